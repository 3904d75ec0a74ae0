// "Will it fit?" before running: the trainer replayed as a dry run.
//
// Like ggml's reserve pass, the estimator runs the real trainer with every op
// switched off, on an allocator that hands out addresses but no memory. Every
// request of a real step is made in the real order with the real lifetimes, so
// the predicted peak live bytes is the measured one, not a textbook sum.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "kernels/models.h"
#include "kernels/trainer.h"

namespace memstrat {

struct LayerEstimate {
  int index = 0;
  std::string description;
  Shape output;                     // per batch
  std::size_t params = 0;           // parameter count
  std::size_t saved_bytes = 0;      // kept from forward for backward (activation kind), at the start of backward
  std::size_t workspace_bytes = 0;  // largest scratch one of its ops takes
};

struct Estimate {
  std::vector<LayerEstimate> layers;
  std::size_t total_params = 0;      // every weight and bias, as torchinfo's "Total params"
  std::size_t trainable_params = 0;  // those with a gradient, which the optimizer updates (today: all)
  std::array<std::size_t, kBufferKindCount> peak_by_kind{};  // each kind's own peak
  std::size_t setup_bytes = 0;                               // live once setup is done (parameters, state, ...)
  std::size_t peak_live_bytes = 0;                           // the most bytes alive at once over a step, setup included
};

// Builds `spec` on a memory-less allocator and dry-runs one training step.
// An observer, when given, sees every request of setup and the step (traces).
Estimate estimate_training(const ModelSpec& spec, ActivationStore& store, const TrainOptions& options,
                           AllocObserver* watcher = nullptr);

}  // namespace memstrat
