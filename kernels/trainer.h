// The training loop: forward, loss, backward, optimizer step, over batches.
//
// Every buffer comes from the allocator under test and lives exactly as long
// as a framework would keep it: activations are freed after their last use,
// gradients of activations as soon as the layer below has its own. The trainer
// marks step and phase boundaries on the allocator.
//
// Two techniques are mechanisms of the loop itself and are switched on here:
// micro-batches summed before one optimizer step (accum), and recomputation of
// forward segments during backward (recompute_segment).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/collective.h"
#include "kernels/data.h"
#include "kernels/models.h"
#include "kernels/optimizer.h"

namespace memstrat {

struct TrainOptions {
  int batch = 32;  // this process's samples per step (a rank's share under data parallelism)
  OptimizerConfig optimizer;
  int accum = 1;              // micro-batches per optimizer step; must divide batch
  int recompute_segment = 0;  // layers per checkpoint segment; 0: keep every activation
  // Data parallelism (kernels/collective.h): -1 off; 0 plain (dp); 1 to 3 the ZeRO stage.
  int zero_stage = -1;
  int ranks = 1;         // processes training together
  int global_batch = 0;  // every rank's samples per step; 0: batch
  int first_sample = 0;  // this rank's offset inside a global batch
};

struct StepResult {
  int step = 0;       // counted from 0
  double loss = 0.0;  // mean over the batch
  double ms = 0.0;    // wall time of the whole step, data reading included
};

// Training has diverged when a step's loss is not finite or exceeds this many times
// the first step's (at least 1.0): the run stops there, and its times would be those
// of NaN arithmetic. A first loss is near ln(classes); no healthy run grows tenfold.
inline constexpr double kDivergenceFactor = 10.0;
// Why `loss` means divergence, in a few words ("loss nan", "loss 2.3e+04 > 10 x the
// first step's 2.46"); empty when it does not.
std::string divergence(double first_loss, double loss);

// Recompute segment of about sqrt(L) layers (Chen et al. 2016).
int default_recompute_segment(int layers);

class Trainer {
 public:
  // Takes the setup memory: optimizer state, GEMM packing workspace, batch buffers.
  // The model's parameters must be initialised already (every rank alike, from one
  // seed). A dry run makes every allocation of a real run and computes nothing (the
  // estimator). With options.zero_stage >= 0, `comm` connects the ranks (it must
  // outlive the trainer); a dry run's may be a LocalCollective of the same size.
  Trainer(Model& model, Allocator& allocator, ActivationStore& store, BatchSource& data, const TrainOptions& options,
          bool dry_run = false, Collective* comm = nullptr);
  StepResult step();
  // The mean loss of the current weights over samples [0, samples) of the dataset,
  // in batches of the training batch: forward only, nothing saved, nothing learned.
  // A steadier figure than one step's loss, whose batch changes every step.
  double evaluate(std::uint64_t samples);
  // Sum and sum of squares of every weight, over every rank's shard under zero:3: two
  // runs that learned the same give the same pair (to rounding).
  std::pair<double, double> weight_sums();

 private:
  double micro_batch(float* x, std::int32_t* labels, int count, float scale);
  void zero_gradients();
  // Data parallelism's parts of a step (no-ops without it).
  ActRef forward_layer(Context& ctx, int i, const ActRef& in, bool save);
  Grad backward_layer(Context& ctx, int i, Grad grad, bool need_input_grad);
  void gather_params(int layer);   // zero:3: the layer's full parameters from every rank's shard
  void release_params(int layer);  // zero:3: and freed again
  void reduce_gradients();         // dp and zero:1, after backward; zero:2 and 3 do it per layer
  void gather_updated_params();    // zero:1 and 2, after the optimizer step
  void shard_model_state();        // at construction: what each stage keeps of the full state

  Model& model_;
  Allocator& allocator_;
  ActivationStore& store_;
  BatchSource& data_;
  TrainOptions options_;
  bool dry_run_;
  std::vector<Param*> params_;
  // Under ZeRO, per parameter (in params_ order): the rank's shard of its gradient, and
  // under zero:3 of its value; elements per shard, and how many of the own shard are real.
  struct Shard {
    Buffer grad, value;
    std::size_t elements = 0, valid = 0;
  };
  std::vector<Shard> shards_;
  std::vector<std::vector<std::size_t>> layer_params_;  // per layer index: its params_ positions
  Collective* comm_ = nullptr;
  std::unique_ptr<Optimizer> optimizer_;
  Buffer gemm_buffer_;
  GemmWorkspace gemm_workspace_;
  Buffer batch_x_, batch_labels_;
  int step_ = 0;
};

}  // namespace memstrat
