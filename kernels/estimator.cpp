#include "kernels/estimator.h"

#include <map>
#include <stdexcept>

namespace memstrat {

namespace {

// Hands out distinct, aligned, never-touched addresses: bytes are counted, not taken.
class AddressOnlyAllocator final : public Allocator {
 public:
  AddressOnlyAllocator() : Allocator("estimate") {}

 private:
  void* do_allocate(const AllocRequest& request) override {
    next_ = (next_ + request.align - 1) / request.align * request.align;
    const std::uintptr_t address = next_;
    next_ += request.bytes;
    return reinterpret_cast<void*>(address);
  }
  void do_deallocate(void*, const AllocRequest&) noexcept override {}
  std::uintptr_t next_ = std::uintptr_t(1) << 44;
};

// Snapshots the saved activations per layer when backward begins.
class SavedAtBackward final : public AllocObserver {
 public:
  void on_allocate(const AllocRequest& r, const void* p) override { live_[p] = r; }
  void on_deallocate(const AllocRequest&, const void* p) override { live_.erase(p); }
  void on_phase(Phase phase) override {
    if (phase != Phase::backward || taken_) return;
    taken_ = true;
    for (const auto& [pointer, r] : live_)
      if (r.kind == BufferKind::activation && r.layer >= 0) saved_by_layer[r.layer] += r.bytes;
  }
  std::map<int, std::size_t> saved_by_layer;

 private:
  std::map<const void*, AllocRequest> live_;
  bool taken_ = false;
};

// Answers what the dataset would hold; a dry run never reads a sample.
class ShapeOnlySource final : public BatchSource {
 public:
  explicit ShapeOnlySource(const DatasetInfo& info) : info_(info) {}
  const DatasetInfo& info() const override { return info_; }
  void read(std::uint64_t, int, float*, std::int32_t*) override {
    throw std::logic_error("the estimator's dry run read a sample");
  }

 private:
  DatasetInfo info_;
};

}  // namespace

Estimate estimate_training(const ModelSpec& spec, ActivationStore& store, const TrainOptions& options,
                           AllocObserver* watcher) {
  AddressOnlyAllocator allocator;
  SavedAtBackward saved;
  Model model = build_model(spec);
  DatasetInfo info;
  info.channels = model.input.c, info.height = model.input.h, info.width = model.input.w;
  info.classes = model.classes, info.samples = 1;
  ShapeOnlySource source(info);

  // Both watchers see every event: the per-layer snapshot and the caller's.
  struct Both final : AllocObserver {
    AllocObserver* a;
    AllocObserver* b;
    void on_allocate(const AllocRequest& r, const void* p) override {
      a->on_allocate(r, p), b ? b->on_allocate(r, p) : void();
    }
    void on_deallocate(const AllocRequest& r, const void* p) override {
      a->on_deallocate(r, p), b ? b->on_deallocate(r, p) : void();
    }
    void on_step_begin(int s) override { a->on_step_begin(s), b ? b->on_step_begin(s) : void(); }
    void on_step_end(int s) override { a->on_step_end(s), b ? b->on_step_end(s) : void(); }
    void on_phase(Phase p) override { a->on_phase(p), b ? b->on_phase(p) : void(); }
  } both;
  both.a = &saved, both.b = watcher;
  // If the trainer refuses the options, the model's buffers are freed after `both`
  // is gone: the scope has detached it by then.
  const ObserverScope observing(allocator, &both);
  model.init(allocator, 0, /*dry_run=*/true);
  Estimate estimate;
  {
    // A rank of a data-parallel run allocates as any other: rank 0 of that many, talking to no one.
    LocalCollective rank_zero(options.ranks);
    Trainer trainer(model, allocator, store, source, options, /*dry_run=*/true,
                    options.zero_stage >= 0 ? &rank_zero : nullptr);
    estimate.setup_bytes = allocator.stats().live_bytes;
    allocator.reset_peak();
    trainer.step();
    estimate.peak_live_bytes = allocator.stats().peak_live_bytes;
    estimate.peak_by_kind = allocator.stats().peak_by_kind;
  }
  Shape shape = model.input.with_batch(options.batch / options.accum);
  for (const auto& layer : model.layers) {
    LayerEstimate l;
    l.index = layer->index();
    l.description = layer->describe();
    l.output = layer->output_shape(shape);
    for (const Param* p : layer->params()) {
      l.params += p->numel();
      if (p->grad) estimate.trainable_params += p->numel();
    }
    estimate.total_params += l.params;
    l.saved_bytes = saved.saved_by_layer.count(l.index) ? saved.saved_by_layer[l.index] : 0;
    l.workspace_bytes = layer->workspace_bytes(shape);
    estimate.layers.push_back(l);
    shape = l.output;
  }
  return estimate;
}

}  // namespace memstrat
