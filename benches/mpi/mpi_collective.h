// The Collective of an MPI rank (kernels/collective.h), on MPI_COMM_WORLD.
#pragma once

#include "kernels/collective.h"

namespace memstrat {

class MpiCollective final : public Collective {
 public:
  MpiCollective();            // MPI_Init (threads: funneled; only the trainer's thread calls MPI)
  ~MpiCollective() override;  // MPI_Finalize
  MpiCollective(const MpiCollective&) = delete;
  MpiCollective& operator=(const MpiCollective&) = delete;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(float* data, std::size_t n) override;
  void allreduce_sum(double* data, std::size_t n) override;
  void reduce_scatter_sum(const float* full, float* out, std::size_t shard) override;
  void reduce_scatter_sum_in_place(float* full, std::size_t shard) override;
  void allgather(const float* own, float* full, std::size_t shard) override;

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace memstrat
