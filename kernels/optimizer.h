// Optimizers: SGD with momentum and weight decay, and Adam.
// Their state (one buffer per parameter for SGD, two for Adam) is taken from
// the allocator as optimizer_state: it is a large part of what training holds.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kernels/layer.h"

namespace memstrat {

enum class OptimizerKind { sgd, adam };
OptimizerKind parse_optimizer(const std::string& name);  // throws std::invalid_argument
const char* to_string(OptimizerKind kind);

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::sgd;
  float lr = 0.01f;
  float momentum = 0.9f;
  float weight_decay = 5e-4f;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
};

// PyTorch's SGD: v = momentum * v + (g + wd * w); w -= lr * v.
void sgd_update(float* weight, float* velocity, const float* grad, std::size_t n, float lr, float momentum,
                float weight_decay);
// Adam with L2 weight decay folded into the gradient; step counts from 1.
void adam_update(float* weight, float* m, float* v, const float* grad, std::size_t n, float lr, float beta1,
                 float beta2, float eps, float weight_decay, int step);

// Number of state buffers per parameter (1 for SGD, 2 for Adam).
int optimizer_state_buffers(OptimizerKind kind);

// What the optimizer updates: n elements of a weight from a gradient of the same
// length. A whole parameter, or under sharded data parallelism the rank's shard of it.
struct OptimizerSlot {
  float* weight = nullptr;
  const float* grad = nullptr;
  std::size_t n = 0;
  int layer = -1;
};
std::vector<OptimizerSlot> whole_params(const std::vector<Param*>& params);

class Optimizer {
 public:
  // Allocates the state of every slot, zeroed (unless a dry run).
  Optimizer(const OptimizerConfig& config, std::vector<OptimizerSlot> slots, Allocator& allocator, bool dry_run);
  void step();
  const OptimizerConfig& config() const { return config_; }

 private:
  OptimizerConfig config_;
  std::vector<OptimizerSlot> slots_;
  std::vector<Buffer> state_;  // per slot: velocity, or m then v
  int steps_ = 0;
};

}  // namespace memstrat
