// `arena[:separate]`: cyclic workspaces, as ND4J/DL4J workspaces.
//
// Why: a training step makes the same requests every time and all of them are
// dead by its end, so a bump pointer that is rewound wholesale serves them with
// no search and no per-buffer bookkeeping; the price is memory, since a freed
// buffer is not reused until its region is rewound.
//
// Exactly what it does:
// - Persistent region: every request made outside a step (parameters,
//   gradients, optimizer state, batch and GEMM buffers) is a plain
//   aligned_alloc of its own, freed with free.
// - Step regions: requests inside a step are bump-allocated from a region.
//   Deallocate only counts the region's live buffers down. A region is one main
//   chunk (4096-aligned) plus spill chunks taken when the main one is full
//   (1 MiB at least, each at least a quarter of all spill chunks before it:
//   few chunks, and at most about a quarter more than the step needed).
//   Rewinding a region puts every bump offset back to zero.
// - Sizing: given a dry run's step before the first one (reserve_step), every
//   region plays it on paper by the rules below and is made one main chunk as
//   large as its high water (rounded to 64 KiB): the first step spills nothing.
//   Without one, and when a step needs more than the plan: a region also tracks
//   the offset a single chunk would have needed (its high water since the last
//   step end), and at step end a region that spilled is re-made as one main
//   chunk of that size: the first step sizes it, a later step that needs more
//   grows it. Regions never shrink.
//   `arena_growths` counts re-makes of a region that already had a main chunk
//   (the first sizing is not a growth).
// - `arena`: one step region, rewound at step end only. Nothing freed inside a
//   step is reused in that step: the region holds every byte the step asks for.
// - `arena:separate`: several step regions, each rewound as soon as all of its
//   buffers are dead (and at step end), chosen by what a request is for:
//     forward   requests of the forward phase (outputs, saved activations, the
//               loss gradient): empty once backward has freed what was saved,
//               so it is rewound once per micro-batch;
//     scratch   workspace requests of any phase (im2col columns): dead after
//               each op, rewound after each op;
//     gradient  the backward phase's (and optimizer's) other requests,
//               activation gradients mostly, in two regions by the parity of the
//               asking layer, as DL4J alternates ACTIVATION_GRAD workspaces: the
//               gradient of layer i is made while that of layer i+1 is alive,
//               but by then layer i+2's is dead, so each is rewound at every use;
//     recompute activations remade during the backward phase (recompute),
//               dead once their segment's backward is over.
//   So its step regions hold about the forward's saved activations plus the
//   largest scratch and gradient pairs, against the whole step's bytes for
//   `arena`; the cost is a region lookup on every free and more rewinds.
// - A region with buffers still alive at step end is not rewound (counted as
//   `arena_skipped_resets`): it keeps bumping, safely, until it empties
//   (`:separate`) or a later step ends with it empty (`arena`).
// reserved_bytes() = persistent bytes (request sizes rounded up to their
// alignment) + all chunks of the step regions;
// allocated_bytes() = persistent bytes + bump offsets in use.
// Under AddressSanitizer (sanitizer.h) a chunk is poisoned except the requested
// bytes of each buffer bumped out of it; a freed buffer is poisoned at once
// (it is not reused before its region is rewound) and a rewind poisons the
// whole chunk again. The slack past a persistent buffer's size is poisoned too.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "strategies/factories.h"
#include "strategies/registry.h"
#include "strategies/sanitizer.h"

namespace memstrat {

namespace {

constexpr std::size_t kChunkAlign = 4096;
constexpr std::size_t kMinSpillBytes = std::size_t(1) << 20;
constexpr std::size_t kRegionRounding = std::size_t(64) << 10;

std::size_t round_up(std::size_t n, std::size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

struct Chunk {
  char* base = nullptr;
  std::size_t capacity = 0;
  std::size_t offset = 0;  // bump pointer
};

// One bump-allocated region: a main chunk and spill chunks.
class BumpRegion {
 public:
  BumpRegion() = default;
  ~BumpRegion() { release_all(); }
  BumpRegion(const BumpRegion&) = delete;
  BumpRegion& operator=(const BumpRegion&) = delete;

  // Null when a spill chunk could not be had; the region is unchanged then.
  void* allocate(std::size_t bytes, std::size_t align) {
    if (bytes > SIZE_MAX / 4 || align > SIZE_MAX / 4) return nullptr;
    void* pointer = bump(main_, bytes, align);
    for (std::size_t i = 0; pointer == nullptr && i < spills_.size(); ++i) pointer = bump(spills_[i], bytes, align);
    if (pointer == nullptr) {
      std::size_t spilled = 0;
      for (const Chunk& c : spills_) spilled += c.capacity;
      const std::size_t capacity =
          std::max(round_up(bytes + align, kChunkAlign), std::max(kMinSpillBytes, round_up(spilled / 4, kChunkAlign)));
      Chunk chunk;
      chunk.base = static_cast<char*>(std::aligned_alloc(kChunkAlign, capacity));
      if (chunk.base == nullptr) return nullptr;
      chunk.capacity = capacity;
      poison_memory(chunk.base, capacity);
      spills_.push_back(chunk);
      ++spill_chunks_;
      pointer = bump(spills_.back(), bytes, align);
      if (pointer == nullptr) return nullptr;  // cannot happen: the chunk was sized for it
    }
    note(bytes, align);
    ++live_;
    return pointer;
  }

  // The same request on paper (a dry run's, before any step): what it adds to the high
  // water, no memory taken.
  void plan(std::size_t bytes, std::size_t align) {
    note(bytes, align);
    ++planned_live_;
  }
  // One planned buffer died; returns true when none planned is left alive.
  bool plan_release() { return planned_live_ > 0 && --planned_live_ == 0; }
  void plan_rewind() { virtual_offset_ = 0; }
  // Before the first step: the main chunk made as large as the plan's high water.
  void take_plan() {
    if (high_water_ > 0 && main_.capacity == 0) make_main(round_up(high_water_, kRegionRounding));
    virtual_offset_ = high_water_ = planned_live_ = 0;
  }

  bool owns(const void* p) const {
    if (within(main_, p)) return true;
    for (const Chunk& c : spills_)
      if (within(c, p)) return true;
    return false;
  }

  // One of its buffers died; returns true when none is left alive.
  bool release_one() { return --live_ == 0; }
  std::size_t live() const { return live_; }

  // A buffer bumped out of this region died: nothing may touch it until the rewind.
  static void retire(void* pointer, std::size_t bytes) { poison_memory(pointer, bytes); }

  void rewind() {
    for_each_chunk([](Chunk& c) {
      poison_memory(c.base, c.offset);
      c.offset = 0;
    });
    virtual_offset_ = 0;
  }

  // At step end, with no buffer alive: rewinds, and re-makes the region as one
  // chunk when it spilled. Returns true when a main chunk grew.
  bool end_step() {
    rewind();
    const bool spilled = !spills_.empty();
    bool grew = false;
    if (spilled) {
      const bool had_main = main_.capacity > 0;
      release_all();
      make_main(round_up(high_water_, kRegionRounding));
      grew = had_main && main_.capacity > 0;
    }
    high_water_ = 0;
    return grew;
  }

  std::size_t reserved() const {
    std::size_t total = main_.capacity;
    for (const Chunk& c : spills_) total += c.capacity;
    return total;
  }
  std::size_t in_use() const {
    std::size_t total = main_.offset;
    for (const Chunk& c : spills_) total += c.offset;
    return total;
  }
  std::uint64_t spill_chunks() const { return spill_chunks_; }

 private:
  static bool within(const Chunk& c, const void* p) {
    const char* q = static_cast<const char*>(p);
    return c.base != nullptr && q >= c.base && q < c.base + c.capacity;
  }

  static void* bump(Chunk& c, std::size_t bytes, std::size_t align) {
    if (c.base == nullptr) return nullptr;
    const auto base = reinterpret_cast<std::uintptr_t>(c.base);
    const std::uintptr_t start = (base + c.offset + align - 1) / align * align;
    if (start - base > c.capacity || c.capacity - (start - base) < bytes) return nullptr;
    c.offset = start - base + bytes;
    unpoison_memory(c.base + (start - base), bytes);
    return c.base + (start - base);
  }

  // What one chunk aligned to kChunkAlign would have needed for the same sequence.
  void note(std::size_t bytes, std::size_t align) {
    const std::size_t excess = align > kChunkAlign ? align - kChunkAlign : 0;
    virtual_offset_ = round_up(virtual_offset_, std::min(align, kChunkAlign)) + bytes + excess;
    high_water_ = std::max(high_water_, virtual_offset_);
  }

  // Without it the next step spills: slower, but safe.
  void make_main(std::size_t capacity) {
    main_.base = static_cast<char*>(std::aligned_alloc(kChunkAlign, capacity));
    main_.capacity = main_.base != nullptr ? capacity : 0;
    main_.offset = 0;
    poison_memory(main_.base, main_.capacity);
  }

  template <typename Function>
  void for_each_chunk(Function function) {
    function(main_);
    for (Chunk& c : spills_) function(c);
  }

  // Back to the C library as it came: unpoisoned.
  void release_all() {
    for_each_chunk([](Chunk& c) {
      unpoison_memory(c.base, c.capacity);
      std::free(c.base);
    });
    main_ = Chunk{};
    spills_.clear();
  }

  Chunk main_;
  std::vector<Chunk> spills_;
  std::size_t live_ = 0, planned_live_ = 0;
  std::size_t virtual_offset_ = 0, high_water_ = 0;
  std::uint64_t spill_chunks_ = 0;
};

class ArenaAllocator final : public Allocator {
 public:
  ArenaAllocator(std::string name, bool separate) : Allocator(std::move(name)), separate_(separate) {
    // :separate: forward, scratch, gradient (even layers), gradient (odd layers), recompute.
    const int count = separate_ ? 5 : 1;
    for (int i = 0; i < count; ++i) regions_.push_back(std::make_unique<BumpRegion>());
  }

  std::optional<std::size_t> reserved_bytes() const override {
    std::size_t total = persistent_bytes_;
    for (const auto& r : regions_) total += r->reserved();
    return total;
  }
  std::optional<std::size_t> allocated_bytes() const override {
    std::size_t total = persistent_bytes_;
    for (const auto& r : regions_) total += r->in_use();
    return total;
  }

  std::vector<std::pair<std::string, double>> own_figures() const override {
    std::size_t step_bytes = 0;
    std::uint64_t spills = 0;
    for (const auto& r : regions_) {
      step_bytes += r->reserved();
      spills += r->spill_chunks();
    }
    std::vector<std::pair<std::string, double>> figures = {
        {"arena_growths", double(growths_)},
        {"arena_step_region_bytes", double(step_bytes)},
        {"arena_peak_step_region_bytes", double(peak_step_region_bytes_)},
        {"arena_persistent_bytes", double(persistent_bytes_)},
        {"arena_spill_chunks", double(spills)},
        {"arena_skipped_resets", double(skipped_resets_)}};
    if (separate_) {
      figures.emplace_back("arena_forward_region_bytes", double(region(kForward).reserved()));
      figures.emplace_back("arena_scratch_region_bytes", double(region(kScratch).reserved()));
      figures.emplace_back("arena_gradient_region_bytes",
                           double(region(kGradientEven).reserved() + region(kGradientOdd).reserved()));
      figures.emplace_back("arena_recompute_region_bytes", double(region(kRecompute).reserved()));
    }
    return figures;
  }

 private:
  enum RegionIndex : std::size_t { kForward = 0, kScratch, kGradientEven, kGradientOdd, kRecompute };
  BumpRegion& region(std::size_t i) const { return *regions_[i]; }

  void do_step_begin(int) override { in_step_ = true; }

  void do_step_end(int) override {
    in_step_ = false;
    for (const auto& r : regions_) {
      if (r->live() > 0) {
        ++skipped_resets_;
        continue;
      }
      if (r->end_step()) ++growths_;
    }
    note_step_region_bytes();
  }

  void note_step_region_bytes() {
    std::size_t step_bytes = 0;
    for (const auto& r : regions_) step_bytes += r->reserved();
    peak_step_region_bytes_ = std::max(peak_step_region_bytes_, step_bytes);
  }

  // A dry run's step played on paper through the regions' own rules, each region then
  // made one chunk as large as its high water: the first step bumps from main chunks
  // and spills nothing. A step that needs more spills and grows, as without a plan.
  void do_reserve_step(const std::vector<StepBuffer>& buffers) override {
    struct Event {
      std::uint64_t at;
      bool take;
      std::size_t buffer;
    };
    std::vector<Event> events;
    for (std::size_t i = 0; i < buffers.size(); ++i) {
      events.push_back({buffers[i].taken, true, i});
      events.push_back({buffers[i].returned, false, i});
    }
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
    std::vector<BumpRegion*> owner(buffers.size(), nullptr);
    for (const Event& e : events) {
      const StepBuffer& b = buffers[e.buffer];
      if (e.take) {
        owner[e.buffer] = &region_for(b.request, b.phase);
        owner[e.buffer]->plan(b.request.bytes, b.request.align);
      } else if (owner[e.buffer] != nullptr && owner[e.buffer]->plan_release() && separate_) {
        owner[e.buffer]->plan_rewind();
      }
    }
    for (const auto& r : regions_) r->take_plan();
    note_step_region_bytes();
  }

  BumpRegion& region_for(const AllocRequest& request) const { return region_for(request, phase()); }
  BumpRegion& region_for(const AllocRequest& request, Phase phase) const {
    if (!separate_) return region(0);
    if (request.kind == BufferKind::workspace) return region(kScratch);
    if (phase == Phase::forward || phase == Phase::setup) return region(kForward);
    if (request.kind == BufferKind::activation) return region(kRecompute);
    return region((request.layer & 1) == 0 ? kGradientEven : kGradientOdd);
  }

  void* do_allocate(const AllocRequest& request) override {
    if (request.align == 0 || (request.align & (request.align - 1)) != 0)
      fail(request, "alignment " + std::to_string(request.align) + " is not a power of two");
    if (request.bytes > SIZE_MAX / 4 || request.align > SIZE_MAX / 4) return nullptr;
    if (!in_step_) {
      const std::size_t size = round_up(request.bytes, request.align);
      void* pointer = std::aligned_alloc(request.align, size);
      if (pointer != nullptr) persistent_bytes_ += size;
      hand_out(pointer, request.bytes, size);
      return pointer;
    }
    BumpRegion& target = region_for(request);
    const std::uint64_t spills_before = target.spill_chunks();
    void* pointer = target.allocate(request.bytes, request.align);
    if (target.spill_chunks() != spills_before) note_step_region_bytes();
    return pointer;
  }

  void do_deallocate(void* pointer, const AllocRequest& request) noexcept override {
    for (const auto& r : regions_) {
      if (!r->owns(pointer)) continue;
      BumpRegion::retire(pointer, request.bytes);
      // `arena` rewinds at step end only; `:separate` as soon as a region empties.
      if (r->release_one() && separate_) r->rewind();
      return;
    }
    persistent_bytes_ -= round_up(request.bytes, request.align);
    unpoison_memory(pointer, round_up(request.bytes, request.align));
    std::free(pointer);
  }

  bool separate_;
  bool in_step_ = false;
  std::vector<std::unique_ptr<BumpRegion>> regions_;
  std::size_t persistent_bytes_ = 0;
  std::size_t peak_step_region_bytes_ = 0;
  std::uint64_t growths_ = 0, skipped_resets_ = 0;
};

}  // namespace

std::unique_ptr<Allocator> make_arena(std::string_view option) {
  if (option.empty()) return std::make_unique<ArenaAllocator>("arena", false);
  if (option == "separate") return std::make_unique<ArenaAllocator>("arena:separate", true);
  throw SpecError("allocator 'arena' takes no option or :separate (got 'arena:" + std::string(option) + "')");
}

}  // namespace memstrat
