#include "kernels/trainer.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "kernels/loss.h"

namespace memstrat {

std::string divergence(double first_loss, double loss) {
  char text[160];
  if (!std::isfinite(loss)) {
    std::snprintf(text, sizeof text, "loss %g", loss);
    return text;
  }
  const double bound = kDivergenceFactor * std::max(1.0, std::isfinite(first_loss) ? first_loss : 1.0);
  if (loss <= bound) return {};
  std::snprintf(text, sizeof text, "loss %.4g > %g x the first step's %.4g", loss, kDivergenceFactor, first_loss);
  return text;
}

int default_recompute_segment(int layers) { return std::max(1, int(std::lround(std::sqrt(double(layers))))); }

Trainer::Trainer(Model& model, Allocator& allocator, ActivationStore& store, BatchSource& data,
                 const TrainOptions& options, bool dry_run, Collective* comm)
    : model_(model),
      allocator_(allocator),
      store_(store),
      data_(data),
      options_(options),
      dry_run_(dry_run),
      comm_(comm) {
  if (options.zero_stage > 3) throw std::invalid_argument("ZeRO stages are 1 to 3");
  if (options.zero_stage >= 0 && comm == nullptr) throw std::invalid_argument("data parallelism needs a collective");
  if (options.zero_stage < 0) comm_ = nullptr;
  if (options.batch <= 0) throw std::invalid_argument("the batch size must be positive");
  if (options.accum <= 0 || options.batch % options.accum != 0)
    throw std::invalid_argument("accum:" + std::to_string(options.accum) + " does not divide the batch of " +
                                std::to_string(options.batch) + " into equal micro-batches");
  if (options.recompute_segment < 0) throw std::invalid_argument("the recompute segment must be positive");
  const DatasetInfo& info = data.info();
  if (Shape{1, info.channels, info.height, info.width} != model.input || info.classes != model.classes)
    throw std::invalid_argument("the dataset holds " + std::to_string(info.channels) + "x" +
                                std::to_string(info.height) + "x" + std::to_string(info.width) + " samples of " +
                                std::to_string(info.classes) + " classes; model '" + model.name + "' expects " +
                                model.input.str().substr(2) + " and " + std::to_string(model.classes));
  allocator.phase_begin(Phase::setup);
  params_ = model.params();
  shard_model_state();
  std::vector<OptimizerSlot> slots = whole_params(params_);
  if (options.zero_stage >= 1)
    for (std::size_t i = 0; i < params_.size(); ++i) {
      Shard& sh = shards_[i];
      float* own = options.zero_stage == 3 ? sh.value.as<float>()
                                           : params_[i]->value.as<float>() + std::size_t(comm_->rank()) * sh.elements;
      const float* grad = options.zero_stage == 1 ? params_[i]->grad.as<float>() : sh.grad.as<float>();
      slots[i] = {own, grad, sh.valid, params_[i]->layer};
    }
  optimizer_ = std::make_unique<Optimizer>(options.optimizer, slots, allocator, dry_run);
  gemm_buffer_ = Buffer(allocator, gemm_workspace_bytes(omp_get_max_threads()), BufferKind::workspace, -1);
  gemm_workspace_ = {gemm_buffer_.as<float>(), gemm_buffer_.bytes()};
  batch_x_ = Buffer(allocator, std::size_t(options.batch) * info.sample_bytes(), BufferKind::input, -1);
  batch_labels_ = Buffer(allocator, std::size_t(options.batch) * sizeof(std::int32_t), BufferKind::input, -1);
}

void Trainer::zero_gradients() {
  if (dry_run_) return;
  for (Param* p : params_)
    if (p->grad) std::memset(p->grad.data(), 0, p->grad.bytes());
  for (Shard& sh : shards_)
    if (sh.grad) std::memset(sh.grad.data(), 0, sh.grad.bytes());
}

void Trainer::shard_model_state() {
  const int stage = options_.zero_stage;
  if (stage < 1) return;
  const int ranks = comm_->size(), rank = comm_->rank();
  shards_.resize(params_.size());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Param& p = *params_[i];
    Shard& sh = shards_[i];
    sh.elements = shard_elements(p.numel(), ranks);
    const std::size_t begin = std::size_t(rank) * sh.elements;
    sh.valid = begin >= p.numel() ? 0 : std::min(sh.elements, p.numel() - begin);
    const std::size_t padded = sh.elements * std::size_t(ranks) * sizeof(float);
    if (static_cast<std::size_t>(p.layer) >= layer_params_.size()) layer_params_.resize(std::size_t(p.layer) + 1);
    layer_params_[std::size_t(p.layer)].push_back(i);
    // zero:2 and 3: the rank's shard of the reduced gradient, summed over micro-batches
    // (zero:1 reduces in place, into the start of the full gradient).
    if (stage >= 2) sh.grad = Buffer(allocator_, sh.elements * sizeof(float), BufferKind::gradient, p.layer);
    if (stage == 3) {
      // Only the own shard of the value stays; the full one is gathered for each use.
      sh.value = Buffer(allocator_, sh.elements * sizeof(float), BufferKind::parameter, p.layer);
      if (!dry_run_) {
        std::memset(sh.value.data(), 0, sh.value.bytes());
        if (sh.valid) std::memcpy(sh.value.data(), p.value.as<float>() + begin, sh.valid * sizeof(float));
      }
      p.value.reset();
    } else {
      // Room for every rank's shard, so that the update is gathered in place.
      Buffer full(allocator_, padded, BufferKind::parameter, p.layer);
      if (!dry_run_) {
        std::memset(full.data(), 0, full.bytes());
        std::memcpy(full.data(), p.value.data(), p.numel() * sizeof(float));
      }
      p.value = std::move(full);
    }
    // zero:1 keeps the full gradient (padded, to be reduce-scattered); zero:2 and 3 take
    // it for one layer's backward at a time.
    p.grad.reset();
    if (stage == 1) p.grad = Buffer(allocator_, padded, BufferKind::gradient, p.layer);
  }
}

void Trainer::gather_params(int layer) {
  if (options_.zero_stage != 3 || std::size_t(layer) >= layer_params_.size()) return;
  const std::size_t ranks = std::size_t(comm_->size());
  for (std::size_t i : layer_params_[std::size_t(layer)]) {
    Param& p = *params_[i];
    p.value = Buffer(allocator_, shards_[i].elements * ranks * sizeof(float), BufferKind::parameter, p.layer);
    if (!dry_run_) comm_->allgather(shards_[i].value.as<float>(), p.value.as<float>(), shards_[i].elements);
  }
}

void Trainer::release_params(int layer) {
  if (options_.zero_stage != 3 || std::size_t(layer) >= layer_params_.size()) return;
  for (std::size_t i : layer_params_[std::size_t(layer)]) params_[i]->value.reset();
}

ActRef Trainer::forward_layer(Context& ctx, int i, const ActRef& in, bool save) {
  const int layer = model_.layers[std::size_t(i)]->index();
  gather_params(layer);
  ActRef out = model_.layers[std::size_t(i)]->forward(ctx, in, save);
  release_params(layer);
  return out;
}

Grad Trainer::backward_layer(Context& ctx, int i, Grad grad, bool need_input_grad) {
  Layer& l = *model_.layers[std::size_t(i)];
  const int stage = options_.zero_stage;
  const int layer = l.index();
  const bool own_grads = stage >= 2 && std::size_t(layer) < layer_params_.size();
  gather_params(layer);
  if (own_grads)
    for (std::size_t k : layer_params_[std::size_t(layer)]) {
      Param& p = *params_[k];
      p.grad = Buffer(allocator_, shards_[k].elements * std::size_t(comm_->size()) * sizeof(float),
                      BufferKind::gradient, p.layer);
      if (!dry_run_) std::memset(p.grad.data(), 0, p.grad.bytes());
    }
  Grad out = l.backward(ctx, std::move(grad), need_input_grad);
  release_params(layer);
  if (own_grads)
    for (std::size_t k : layer_params_[std::size_t(layer)]) {
      // Reduced into a temporary shard, added to the own shard (micro-batches sum), the full one freed.
      Param& p = *params_[k];
      Shard& sh = shards_[k];
      Buffer part(allocator_, sh.elements * sizeof(float), BufferKind::temporary, p.layer);
      if (!dry_run_) {
        comm_->reduce_scatter_sum(p.grad.as<float>(), part.as<float>(), sh.elements);
        float* into = sh.grad.as<float>();
        const float* add = part.as<float>();
        for (std::size_t e = 0; e < sh.elements; ++e) into[e] += add[e];
      }
      p.grad.reset();
    }
  return out;
}

void Trainer::reduce_gradients() {
  const int stage = options_.zero_stage;
  if (stage < 0 || stage >= 2) return;
  if (stage == 1) {
    for (std::size_t i = params_.size(); i-- > 0;)
      if (!dry_run_) comm_->reduce_scatter_sum_in_place(params_[i]->grad.as<float>(), shards_[i].elements);
    return;
  }
  // dp: buckets of gradients in the order backward produced them (the last layer first),
  // each packed into a buffer from the allocator and all-reduced; a gradient as large as
  // a bucket is all-reduced where it lies.
  constexpr std::size_t kBucketBytes = std::size_t(4) << 20;
  std::vector<Param*> bucket;
  std::size_t bucket_bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    Buffer packed(allocator_, bucket_bytes, BufferKind::temporary, bucket.front()->layer);
    if (!dry_run_) {
      float* at = packed.as<float>();
      for (Param* p : bucket) std::memcpy(at, p->grad.data(), p->grad.bytes()), at += p->numel();
      comm_->allreduce_sum(packed.as<float>(), bucket_bytes / sizeof(float));
      at = packed.as<float>();
      for (Param* p : bucket) std::memcpy(p->grad.data(), at, p->grad.bytes()), at += p->numel();
    }
    bucket.clear(), bucket_bytes = 0;
  };
  for (std::size_t i = params_.size(); i-- > 0;) {
    Param* p = params_[i];
    if (p->grad.bytes() >= kBucketBytes) {
      if (!dry_run_) comm_->allreduce_sum(p->grad.as<float>(), p->numel());
      continue;
    }
    if (bucket_bytes + p->grad.bytes() > kBucketBytes) flush();
    bucket.push_back(p), bucket_bytes += p->grad.bytes();
  }
  flush();
}

void Trainer::gather_updated_params() {
  const int stage = options_.zero_stage;
  if (stage != 1 && stage != 2) return;
  if (dry_run_) return;
  const std::size_t rank = std::size_t(comm_->rank());
  for (std::size_t i = 0; i < params_.size(); ++i) {
    float* full = params_[i]->value.as<float>();
    comm_->allgather(full + rank * shards_[i].elements, full, shards_[i].elements);
  }
}

StepResult Trainer::step() {
  const auto start = std::chrono::steady_clock::now();
  allocator_.step_begin(step_);
  zero_gradients();
  const int micro = options_.batch / options_.accum;
  const int global_batch = options_.global_batch > 0 ? options_.global_batch : options_.batch;
  if (!dry_run_)
    data_.read(std::uint64_t(step_) * std::uint64_t(global_batch) + std::uint64_t(options_.first_sample),
               options_.batch, batch_x_.as<float>(), batch_labels_.as<std::int32_t>());
  double loss_sum = 0.0;
  const float scale = 1.0f / float(global_batch);
  for (int k = 0; k < options_.accum; ++k)
    loss_sum += micro_batch(batch_x_.as<float>() + std::size_t(k) * micro * model_.input.per_sample(),
                            batch_labels_.as<std::int32_t>() + std::size_t(k) * micro, micro, scale);
  reduce_gradients();
  if (comm_ != nullptr && !dry_run_) comm_->allreduce_sum(&loss_sum, 1);
  allocator_.phase_begin(Phase::optimizer);
  if (!dry_run_) optimizer_->step();
  gather_updated_params();
  allocator_.step_end(step_);
  const auto end = std::chrono::steady_clock::now();
  StepResult result;
  result.step = step_++;
  result.loss = loss_sum / global_batch;
  result.ms = std::chrono::duration<double, std::milli>(end - start).count();
  return result;
}

std::pair<double, double> Trainer::weight_sums() {
  double sums[2] = {0.0, 0.0};
  if (dry_run_) return {0.0, 0.0};
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const bool sharded = options_.zero_stage == 3;
    const float* w = sharded ? shards_[i].value.as<float>() : params_[i]->value.as<float>();
    const std::size_t n = sharded ? shards_[i].valid : params_[i]->numel();
    for (std::size_t e = 0; e < n; ++e) sums[0] += w[e], sums[1] += double(w[e]) * w[e];
  }
  if (options_.zero_stage == 3) comm_->allreduce_sum(sums, 2);
  return {sums[0], sums[1]};
}

double Trainer::evaluate(std::uint64_t samples) {
  if (samples == 0) throw std::invalid_argument("evaluate: no samples");
  if (dry_run_) return 0.0;
  Context ctx{allocator_, store_, &gemm_workspace_, true};
  const int L = int(model_.layers.size());
  double loss_sum = 0.0;
  for (std::uint64_t first = 0; first < samples; first += std::uint64_t(options_.batch)) {
    const int count = int(std::min<std::uint64_t>(std::uint64_t(options_.batch), samples - first));
    data_.read(first, count, batch_x_.as<float>(), batch_labels_.as<std::int32_t>());
    auto input = std::make_shared<Activation>();
    input->shape = model_.input.with_batch(count);
    input->borrowed = batch_x_.as<float>();
    ActRef logits = std::move(input);
    for (int i = 0; i < L; ++i) logits = forward_layer(ctx, i, logits, false);
    Grad unused = ctx.new_grad(logits->shape, L);
    loss_sum += softmax_cross_entropy(unused.data(), logits->data(), batch_labels_.as<std::int32_t>(), count,
                                      model_.classes, 1.0f);
  }
  return loss_sum / double(samples);
}

double Trainer::micro_batch(float* x, std::int32_t* labels, int count, float scale) {
  Context ctx{allocator_, store_, &gemm_workspace_, !dry_run_};
  const auto& layers = model_.layers;
  const int L = int(layers.size());
  const int segment = options_.recompute_segment > 0 && options_.recompute_segment < L ? options_.recompute_segment : L;
  const int segments = (L + segment - 1) / segment;
  const int last_start = (segments - 1) * segment;

  // Forward. Inside checkpointed segments nothing is saved; each segment's input is kept.
  allocator_.phase_begin(Phase::forward);
  auto input = std::make_shared<Activation>();
  input->shape = model_.input.with_batch(count);
  input->borrowed = x;
  ActRef act = input;
  input.reset();
  std::vector<ActRef> checkpoints;
  for (int i = 0; i < L; ++i) {
    if (segment < L && i % segment == 0 && i < last_start) checkpoints.push_back(act);
    ActRef out = forward_layer(ctx, i, act, i >= last_start);
    // Someone besides this loop still holds the input: backward needs it. Let the store keep it.
    if (act.use_count() > 1 && act->borrowed == nullptr && act->present()) store_.pack(allocator_, *act, dry_run_);
    act = std::move(out);
  }
  Grad grad = ctx.new_grad(act->shape, L);
  double loss = 0.0;
  if (!dry_run_) loss = softmax_cross_entropy(grad.data(), act->data(), labels, count, model_.classes, scale);
  act.reset();

  // Backward, segment by segment from the top; earlier segments are recomputed first.
  allocator_.phase_begin(Phase::backward);
  for (int s = segments - 1; s >= 0; --s) {
    const int begin = s * segment, end = std::min(L, begin + segment);
    if (begin < last_start) {
      ActRef a = std::move(checkpoints[std::size_t(s)]);
      for (int i = begin; i < end; ++i) a = forward_layer(ctx, i, a, true);
    }
    for (int i = end - 1; i >= begin; --i) grad = backward_layer(ctx, i, std::move(grad), i > 0);
  }
  return loss;
}

}  // namespace memstrat
