#include "benches/mpi/mpi_collective.h"

#include <mpi.h>

#include <chrono>
#include <climits>
#include <stdexcept>
#include <string>

namespace memstrat {

namespace {

// MPI counts are ints: larger buffers go in pieces.
constexpr std::size_t kMaxCount = std::size_t(INT_MAX) / 2;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw std::runtime_error(std::string(what) + ": " + std::string(text, std::size_t(length)));
}

class Timed {
 public:
  Timed(CommStats& stats, std::size_t bytes) : stats_(stats), start_(std::chrono::steady_clock::now()) {
    stats_.bytes += bytes, ++stats_.calls;
  }
  ~Timed() {
    stats_.ns += std::uint64_t(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count());
  }
  Timed(const Timed&) = delete;
  Timed& operator=(const Timed&) = delete;

 private:
  CommStats& stats_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

MpiCollective::MpiCollective() {
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  // Errors come back as codes (and become exceptions) instead of aborting the job silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiCollective::~MpiCollective() { MPI_Finalize(); }

void MpiCollective::allreduce_sum(float* data, std::size_t n) {
  // A ring all-reduce sends and receives about 2 (N-1)/N of the buffer.
  const Timed timed(stats_, 2 * n * sizeof(float) * std::size_t(size_ - 1) / std::size_t(size_));
  for (std::size_t at = 0; at < n; at += kMaxCount)
    check(MPI_Allreduce(MPI_IN_PLACE, data + at, int(std::min(kMaxCount, n - at)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
}

void MpiCollective::allreduce_sum(double* data, std::size_t n) {
  const Timed timed(stats_, 2 * n * sizeof(double) * std::size_t(size_ - 1) / std::size_t(size_));
  check(MPI_Allreduce(MPI_IN_PLACE, data, int(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

void MpiCollective::reduce_scatter_sum(const float* full, float* out, std::size_t shard) {
  if (shard > kMaxCount) throw std::runtime_error("reduce-scatter: a shard over 2^30 floats");
  const Timed timed(stats_, shard * sizeof(float) * std::size_t(size_ - 1));
  check(MPI_Reduce_scatter_block(full, out, int(shard), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
        "MPI_Reduce_scatter_block");
}

void MpiCollective::reduce_scatter_sum_in_place(float* full, std::size_t shard) {
  if (shard > kMaxCount) throw std::runtime_error("reduce-scatter: a shard over 2^30 floats");
  const Timed timed(stats_, shard * sizeof(float) * std::size_t(size_ - 1));
  check(MPI_Reduce_scatter_block(MPI_IN_PLACE, full, int(shard), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
        "MPI_Reduce_scatter_block");
}

void MpiCollective::allgather(const float* own, float* full, std::size_t shard) {
  if (shard > kMaxCount) throw std::runtime_error("all-gather: a shard over 2^30 floats");
  const Timed timed(stats_, shard * sizeof(float) * std::size_t(size_ - 1));
  const bool in_place = own == full + std::size_t(rank_) * shard;
  check(
      MPI_Allgather(in_place ? MPI_IN_PLACE : own, int(shard), MPI_FLOAT, full, int(shard), MPI_FLOAT, MPI_COMM_WORLD),
      "MPI_Allgather");
}

}  // namespace memstrat
