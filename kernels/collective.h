// Data-parallel training over several processes (ranks): the collective
// operations the trainer needs, and how it shards model state (ZeRO stages).
//
// The trainer never calls MPI itself: it calls a Collective. benches/mpi/ has the
// MPI one; LocalCollective stands for one rank of N without talking to anyone,
// for dry runs (the estimator predicts a rank's allocations with it) and for a
// single process. Every buffer a collective sends from or receives into comes
// from the allocator under test (the trainer allocates them), so what
// communication costs in memory shows in the figures.
//
// Sharding: each parameter's elements are cut into N equal shards of
// ceil(numel / N) (the last padded), rank r owning shard r.
//   stage 0 (dp)     gradients all-reduced in buckets, the same optimizer step on every rank
//   stage 1 (zero:1) optimizer state of the own shard only: gradients reduce-scattered
//                    in place, the shard updated, parameters all-gathered
//   stage 2 (zero:2) gradients too: a layer's full gradients exist only during its
//                    backward, reduce-scattered into the own shard right after
//   stage 3 (zero:3) parameters too: a layer's full parameters are all-gathered just
//                    before its forward and its backward, and freed after
#pragma once

#include <cstddef>
#include <cstdint>

namespace memstrat {

struct CommStats {
  std::uint64_t bytes = 0;  // bytes this rank sent and received in collectives
  std::uint64_t calls = 0;
  std::uint64_t ns = 0;  // time spent inside collectives
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Element-wise sum over ranks, in place.
  virtual void allreduce_sum(float* data, std::size_t n) = 0;
  virtual void allreduce_sum(double* data, std::size_t n) = 0;
  // `full` holds size() shards of `shard` floats; the sum of shard rank() over
  // every rank is written to `out` (shard floats).
  virtual void reduce_scatter_sum(const float* full, float* out, std::size_t shard) = 0;
  // The same with the result written over the start of `full` (full[0, shard)).
  virtual void reduce_scatter_sum_in_place(float* full, std::size_t shard) = 0;
  // Every rank's `own` (shard floats) gathered into `full` (size() * shard floats),
  // in rank order.
  virtual void allgather(const float* own, float* full, std::size_t shard) = 0;
  const CommStats& stats() const { return stats_; }

 protected:
  CommStats stats_;
};

// One rank of `size` that sends nothing: a dry run's, or a single process's.
// Its collectives leave the data as one rank would have it if every other rank
// had sent zeros, and count nothing.
class LocalCollective final : public Collective {
 public:
  explicit LocalCollective(int size = 1, int rank = 0) : size_(size), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(float*, std::size_t) override {}
  void allreduce_sum(double*, std::size_t) override {}
  void reduce_scatter_sum(const float* full, float* out, std::size_t shard) override;
  void reduce_scatter_sum_in_place(float* full, std::size_t shard) override;
  void allgather(const float* own, float* full, std::size_t shard) override;

 private:
  int size_, rank_;
};

// Elements per shard of a parameter of n elements over `ranks` ranks.
inline std::size_t shard_elements(std::size_t n, int ranks) {
  return (n + std::size_t(ranks) - 1) / std::size_t(ranks);
}

}  // namespace memstrat
