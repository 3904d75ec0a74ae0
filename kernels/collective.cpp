#include "kernels/collective.h"

#include <cstring>

namespace memstrat {

void LocalCollective::reduce_scatter_sum(const float* full, float* out, std::size_t shard) {
  std::memcpy(out, full + std::size_t(rank_) * shard, shard * sizeof(float));
}

void LocalCollective::reduce_scatter_sum_in_place(float* full, std::size_t shard) {
  if (rank_ != 0) std::memmove(full, full + std::size_t(rank_) * shard, shard * sizeof(float));
}

void LocalCollective::allgather(const float* own, float* full, std::size_t shard) {
  float* mine = full + std::size_t(rank_) * shard;
  if (own != mine) std::memmove(mine, own, shard * sizeof(float));
}

}  // namespace memstrat
