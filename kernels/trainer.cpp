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
                 const TrainOptions& options, bool dry_run)
    : model_(model), allocator_(allocator), store_(store), data_(data), options_(options), dry_run_(dry_run) {
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
  optimizer_ = std::make_unique<Optimizer>(options.optimizer, params_, allocator, dry_run);
  gemm_buffer_ = Buffer(allocator, gemm_workspace_bytes(omp_get_max_threads()), BufferKind::workspace, -1);
  gemm_workspace_ = {gemm_buffer_.as<float>(), gemm_buffer_.bytes()};
  batch_x_ = Buffer(allocator, std::size_t(options.batch) * info.sample_bytes(), BufferKind::input, -1);
  batch_labels_ = Buffer(allocator, std::size_t(options.batch) * sizeof(std::int32_t), BufferKind::input, -1);
}

void Trainer::zero_gradients() {
  if (dry_run_) return;
  for (Param* p : params_) std::memset(p->grad.data(), 0, p->grad.bytes());
}

StepResult Trainer::step() {
  const auto start = std::chrono::steady_clock::now();
  allocator_.step_begin(step_);
  zero_gradients();
  const int micro = options_.batch / options_.accum;
  if (!dry_run_)
    data_.read(std::uint64_t(step_) * std::uint64_t(options_.batch), options_.batch, batch_x_.as<float>(),
               batch_labels_.as<std::int32_t>());
  double loss_sum = 0.0;
  const float scale = 1.0f / float(options_.batch);
  for (int k = 0; k < options_.accum; ++k)
    loss_sum += micro_batch(batch_x_.as<float>() + std::size_t(k) * micro * model_.input.per_sample(),
                            batch_labels_.as<std::int32_t>() + std::size_t(k) * micro, micro, scale);
  allocator_.phase_begin(Phase::optimizer);
  if (!dry_run_) optimizer_->step();
  allocator_.step_end(step_);
  const auto end = std::chrono::steady_clock::now();
  StepResult result;
  result.step = step_++;
  result.loss = loss_sum / options_.batch;
  result.ms = std::chrono::duration<double, std::milli>(end - start).count();
  return result;
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
    for (const auto& layer : model_.layers) logits = layer->forward(ctx, logits, false);
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
    ActRef out = layers[i]->forward(ctx, act, i >= last_start);
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
      for (int i = begin; i < end; ++i) a = layers[i]->forward(ctx, a, true);
    }
    for (int i = end - 1; i >= begin; --i) grad = layers[i]->backward(ctx, std::move(grad), i > 0);
  }
  return loss;
}

}  // namespace memstrat
