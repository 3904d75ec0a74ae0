// Every in-process allocation strategy under the lifecycle the trainer gives it:
// aligned, disjoint, intact buffers, the base's accounting, failures that leave
// the strategy usable; then what each of our own strategies promises.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/allocator.h"
#include "strategies/registry.h"

using namespace memstrat;

namespace {

constexpr std::size_t KiB = 1024, MiB = 1024 * KiB;

// Every registered strategy that runs inside this process, with its option variants.
std::vector<std::string> in_process_specs() {
  std::vector<std::string> specs;
  for (const auto& entry : allocator_entries())
    if (!entry.process_wide) specs.emplace_back(entry.name);
  for (const char* variant : {"arena:separate", "pool:best", "pool:first", "pool:worst"}) specs.emplace_back(variant);
  return specs;
}

bool has_figure(const Allocator& allocator, const std::string& key) {
  for (const auto& [name, value] : allocator.own_figures())
    if (name == key) return true;
  return false;
}

double figure(const Allocator& allocator, const std::string& key) {
  for (const auto& [name, value] : allocator.own_figures())
    if (name == key) return value;
  FAIL("allocator '" << allocator.name() << "' reports no figure '" << key << "'");
  return 0;
}

std::size_t random_align(std::mt19937_64& rng) { return std::size_t(16) << (rng() % 9); }  // 16 .. 4096

// Log-uniform between lo and hi.
std::size_t random_size(std::mt19937_64& rng, std::size_t lo, std::size_t hi) {
  std::uniform_real_distribution<double> u(std::log(double(lo)), std::log(double(hi)));
  return std::size_t(std::exp(u(rng)));
}

// Cheap assertion for hot loops: Catch's REQUIRE costs more than the work checked.
#define EXPECT_OR_FAIL(cond, msg) \
  do {                            \
    if (!(cond)) FAIL(msg);       \
  } while (0)

// Drives an allocator and checks every buffer it hands out: alignment, no overlap
// with any live buffer, contents intact until freed, and the base's accounting.
class Harness {
 public:
  explicit Harness(Allocator& allocator) : allocator_(allocator) {}
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;
  ~Harness() {
    for (auto& [begin, live] : live_) allocator_.deallocate(reinterpret_cast<void*>(begin), live.request);
  }

  void* allocate(std::size_t bytes, std::size_t align, BufferKind kind, int layer) {
    const AllocRequest request{bytes, align, kind, layer};
    void* pointer = allocator_.allocate(request);
    const auto begin = reinterpret_cast<std::uintptr_t>(pointer);
    EXPECT_OR_FAIL(pointer != nullptr, allocator_.name() << " returned null for " << bytes << " bytes");
    EXPECT_OR_FAIL(begin % align == 0, allocator_.name() << " gave " << pointer << " for alignment " << align);
    const std::uintptr_t end = begin + bytes;
    const auto next = live_.lower_bound(begin);
    EXPECT_OR_FAIL(next == live_.end() || next->first >= end,
                   allocator_.name() << ": [" << begin << ", " << end << ") overlaps a live buffer at " << next->first);
    EXPECT_OR_FAIL(next == live_.begin() || std::prev(next)->second.end <= begin,
                   allocator_.name() << ": [" << begin << ", " << end << ") overlaps a live buffer ending at "
                                     << std::prev(next)->second.end);
    const auto pattern = static_cast<unsigned char>(1 + serial_++ % 251);
    std::memset(pointer, pattern, bytes);
    live_.emplace(begin, Live{request, end, pattern});
    ++allocs_;
    live_bytes_ += bytes;
    peak_live_bytes_ = std::max(peak_live_bytes_, live_bytes_);
    check_accounting();
    return pointer;
  }

  void free(void* pointer) {
    const auto it = live_.find(reinterpret_cast<std::uintptr_t>(pointer));
    EXPECT_OR_FAIL(it != live_.end(), "freeing a pointer the harness does not hold");
    const auto* bytes = static_cast<const unsigned char*>(pointer);
    const std::size_t size = it->second.request.bytes;
    bool intact = true;
    for (std::size_t i = 0; i < size; ++i) intact &= bytes[i] == it->second.pattern;
    EXPECT_OR_FAIL(intact, allocator_.name() << ": a buffer of " << size << " bytes was overwritten while live");
    allocator_.deallocate(pointer, it->second.request);
    live_bytes_ -= size;
    ++frees_;
    live_.erase(it);
    check_accounting();
  }

  // Checks every live buffer is still intact (after trim, for instance).
  void check_all_intact() const {
    for (const auto& [begin, live] : live_) {
      const auto* bytes = reinterpret_cast<const unsigned char*>(begin);
      for (std::size_t i = 0; i < live.request.bytes; ++i)
        EXPECT_OR_FAIL(bytes[i] == live.pattern, allocator_.name() << ": live buffer damaged");
    }
  }

  void check_accounting() const {
    const AllocStats& s = allocator_.stats();
    EXPECT_OR_FAIL(s.live_bytes == live_bytes_, allocator_.name()
                                                    << ": live_bytes " << s.live_bytes << ", expected " << live_bytes_);
    EXPECT_OR_FAIL(s.peak_live_bytes == peak_live_bytes_,
                   allocator_.name() << ": peak_live_bytes " << s.peak_live_bytes << ", expected " << peak_live_bytes_);
    EXPECT_OR_FAIL(s.alloc_calls == allocs_, allocator_.name() << ": alloc_calls " << s.alloc_calls);
    EXPECT_OR_FAIL(s.free_calls == frees_, allocator_.name() << ": free_calls " << s.free_calls);
    const auto reserved = allocator_.reserved_bytes();
    const auto allocated = allocator_.allocated_bytes();
    if (allocated) EXPECT_OR_FAIL(*allocated >= live_bytes_, allocator_.name() << ": allocated under live");
    if (reserved && allocated)
      EXPECT_OR_FAIL(*allocated <= *reserved, allocator_.name()
                                                  << ": allocated " << *allocated << " over reserved " << *reserved);
  }

  std::size_t live_count() const { return live_.size(); }

 private:
  struct Live {
    AllocRequest request;
    std::uintptr_t end;
    unsigned char pattern;
  };
  Allocator& allocator_;
  std::map<std::uintptr_t, Live> live_;
  std::uint64_t serial_ = 0, allocs_ = 0, frees_ = 0;
  std::size_t live_bytes_ = 0, peak_live_bytes_ = 0;
};

// What a training run allocates once, outside any step.
std::vector<void*> setup_buffers(Harness& h, Allocator& a, std::mt19937_64& rng) {
  a.phase_begin(Phase::setup);
  std::vector<void*> persistent;
  for (int layer = 0; layer < 6; ++layer)
    for (BufferKind kind : {BufferKind::parameter, BufferKind::gradient, BufferKind::optimizer_state})
      persistent.push_back(h.allocate(random_size(rng, 64, 300 * KiB), random_align(rng), kind, layer));
  persistent.push_back(h.allocate(12 * MiB + 100, 64, BufferKind::workspace, -1));  // GEMM workspace
  persistent.push_back(h.allocate(3 * MiB, 4096, BufferKind::input, -1));
  persistent.push_back(h.allocate(128, 64, BufferKind::input, -1));
  return persistent;
}

// One step shaped like the trainer's: forward saves every output, backward frees
// them from the top while passing one gradient down, workspaces die at once.
// The same seed gives the same sequence of requests; `scale` multiplies the
// sizes of activations and workspaces, leaving the sequence as it is.
void trainer_like_step(Harness& h, Allocator& a, int step, std::uint64_t seed, int layers = 8, std::size_t scale = 1) {
  std::mt19937_64 rng(seed);
  std::vector<std::size_t> act_bytes(std::size_t(layers) + 1);
  for (auto& b : act_bytes) b = scale * random_size(rng, 256, 512 * KiB);
  a.step_begin(step);
  a.phase_begin(Phase::forward);
  std::vector<void*> saved(std::size_t(layers), nullptr);
  for (int l = 0; l < layers; ++l) {
    saved[std::size_t(l)] = h.allocate(act_bytes[std::size_t(l) + 1], random_align(rng), BufferKind::activation, l);
    if (rng() % 2 == 0)
      h.free(h.allocate(scale * random_size(rng, 1 * KiB, 2 * MiB), random_align(rng), BufferKind::workspace, l));
    if (rng() % 3 == 0) h.free(h.allocate(random_size(rng, 16, 8 * KiB), 64, BufferKind::temporary, l));
  }
  void* grad = h.allocate(act_bytes[std::size_t(layers)], 64, BufferKind::temporary, layers);
  a.phase_begin(Phase::backward);
  for (int l = layers - 1; l >= 0; --l) {
    void* din = l > 0 ? h.allocate(act_bytes[std::size_t(l)], random_align(rng), BufferKind::temporary, l) : nullptr;
    if (rng() % 2 == 0)
      h.free(h.allocate(scale * random_size(rng, 1 * KiB, 2 * MiB), random_align(rng), BufferKind::workspace, l));
    h.free(saved[std::size_t(l)]);
    h.free(grad);
    grad = din;
  }
  a.phase_begin(Phase::optimizer);
  h.free(h.allocate(random_size(rng, 16, 64 * KiB), 64, BufferKind::temporary, -1));
  a.step_end(step);
}

// A step of random interleaved allocations and frees; whatever is left dies before its end.
void random_step(Harness& h, Allocator& a, int step, std::uint64_t seed, int operations = 300) {
  std::mt19937_64 rng(seed);
  a.step_begin(step);
  std::vector<void*> live;
  const Phase phases[] = {Phase::forward, Phase::backward, Phase::optimizer};
  for (int i = 0; i < operations; ++i) {
    if (i % (operations / 3) == 0) a.phase_begin(phases[std::min(2, i / (operations / 3))]);
    if (live.empty() || rng() % 5 < 3) {
      const auto kind = BufferKind(3 + rng() % 3);  // activation, temporary or workspace
      const std::size_t bytes = rng() % 20 == 0 ? random_size(rng, 1 * MiB, 4 * MiB) : random_size(rng, 1, 64 * KiB);
      live.push_back(h.allocate(bytes, random_align(rng), kind, int(rng() % 10) - 1));
    } else {
      const std::size_t k = rng() % live.size();
      h.free(live[k]);
      live[k] = live.back();
      live.pop_back();
    }
  }
  std::shuffle(live.begin(), live.end(), rng);
  for (void* p : live) h.free(p);
  a.step_end(step);
}

// Between steps a persistent buffer may be replaced, as a resized batch buffer would be.
void replace_persistent(Harness& h, Allocator& a, std::vector<void*>& persistent, std::mt19937_64& rng) {
  a.phase_begin(Phase::setup);
  const std::size_t k = rng() % persistent.size();
  h.free(persistent[k]);
  persistent[k] = h.allocate(random_size(rng, 64, 1 * MiB), random_align(rng), BufferKind::parameter, 0);
}

}  // namespace

TEST_CASE("every in-process strategy: aligned, disjoint, intact and accounted buffers over many steps",
          "[strategies]") {
  for (const std::string& spec : in_process_specs()) {
    INFO("strategy " << spec);
    auto allocator = make_allocator(spec);
    Allocator& a = *allocator;
    std::mt19937_64 rng(42);
    {
      Harness h(a);
      auto persistent = setup_buffers(h, a, rng);
      int step = 0;
      for (int i = 0; i < 4; ++i) trainer_like_step(h, a, step++, 7);  // identical steps
      for (int i = 0; i < 4; ++i) trainer_like_step(h, a, step++, 100 + i);
      for (int i = 0; i < 4; ++i) {
        random_step(h, a, step++, 200 + i);
        replace_persistent(h, a, persistent, rng);
      }
      trainer_like_step(h, a, step++, 7, 12);  // deeper than any before
      REQUIRE(h.live_count() == persistent.size());
      REQUIRE(a.stats().failed_calls == 0);
      for (void* p : persistent) h.free(p);
    }
    REQUIRE(a.stats().live_bytes == 0);
    REQUIRE(a.stats().alloc_calls == a.stats().free_calls);
  }
}

TEST_CASE("every in-process strategy: an injected failure names the strategy and leaves it usable", "[strategies]") {
  for (const std::string& spec : in_process_specs()) {
    INFO("strategy " << spec);
    auto allocator = make_allocator(spec);
    Allocator& a = *allocator;
    std::mt19937_64 rng(3);
    Harness h(a);
    auto persistent = setup_buffers(h, a, rng);
    trainer_like_step(h, a, 0, 11);

    // Outside a step, then at several points inside one.
    a.fail_nth_allocation(1);
    try {
      a.allocate({1000, 64, BufferKind::parameter, 0});
      FAIL("the injected failure did not throw");
    } catch (const AllocError& e) {
      REQUIRE_THAT(std::string(e.what()), Catch::Contains("'" + a.name() + "'"));
      REQUIRE(e.request().bytes == 1000);
    }
    for (std::uint64_t nth : {1, 2, 5}) {
      a.step_begin(1);
      a.phase_begin(Phase::forward);
      std::vector<void*> kept;
      a.fail_nth_allocation(nth);
      int failures = 0;
      for (int i = 0; i < 8; ++i) {
        try {
          kept.push_back(h.allocate(random_size(rng, 64, 256 * KiB), random_align(rng), BufferKind::activation, i));
        } catch (const AllocError& e) {
          REQUIRE_THAT(std::string(e.what()), Catch::Contains(a.name()));
          ++failures;
        }
      }
      REQUIRE(failures == 1);
      a.phase_begin(Phase::backward);
      for (void* p : kept) h.free(p);
      a.step_end(1);
    }
    REQUIRE(a.stats().failed_calls == 4);
    // Still serves whole steps afterwards.
    for (int step = 2; step < 5; ++step) trainer_like_step(h, a, step, 11);
    random_step(h, a, 5, 99);
    REQUIRE(h.live_count() == persistent.size());
  }
}

TEST_CASE("every in-process strategy: a request it cannot serve throws AllocError and it stays usable",
          "[strategies]") {
  const std::size_t impossible = std::size_t(1) << 60;
  for (const std::string& spec : in_process_specs()) {
    INFO("strategy " << spec);
    auto allocator = make_allocator(spec);
    Allocator& a = *allocator;
    Harness h(a);
    void* kept = h.allocate(5000, 64, BufferKind::parameter, 0);
    REQUIRE_THROWS_WITH(a.allocate({impossible, 64, BufferKind::parameter, 0}), Catch::Contains(a.name()));
    a.step_begin(0);
    a.phase_begin(Phase::forward);
    void* in_step = h.allocate(3000, 256, BufferKind::activation, 0);
    REQUIRE_THROWS_AS(a.allocate({impossible, 64, BufferKind::activation, 1}), AllocError);
    h.free(in_step);
    a.step_end(0);
    REQUIRE(a.stats().failed_calls == 2);
    trainer_like_step(h, a, 1, 5);
    trainer_like_step(h, a, 2, 5);
    h.free(kept);
  }
}

TEST_CASE("every in-process strategy: alignments beyond the page are honoured too", "[strategies]") {
  for (const std::string& spec : in_process_specs()) {
    INFO("strategy " << spec);
    auto allocator = make_allocator(spec);
    Allocator& a = *allocator;
    Harness h(a);
    void* persistent = h.allocate(100, 16384, BufferKind::parameter, 0);
    for (int step = 0; step < 3; ++step) {
      a.step_begin(step);
      a.phase_begin(Phase::forward);
      void* x = h.allocate(5000, 8192, BufferKind::activation, 0);
      void* y = h.allocate(70000, 65536, BufferKind::workspace, 0);
      h.free(y);
      a.phase_begin(Phase::backward);
      h.free(x);
      a.step_end(step);
    }
    h.free(persistent);
  }
}

TEST_CASE("every in-process strategy: trim keeps live buffers intact", "[strategies]") {
  for (const std::string& spec : in_process_specs()) {
    INFO("strategy " << spec);
    auto allocator = make_allocator(spec);
    Allocator& a = *allocator;
    std::mt19937_64 rng(8);
    Harness h(a);
    setup_buffers(h, a, rng);
    trainer_like_step(h, a, 0, 1);
    a.trim();
    h.check_all_intact();
    trainer_like_step(h, a, 1, 1);
    h.check_all_intact();
  }
}

TEST_CASE("a bad option names the options the strategy takes", "[strategies]") {
  REQUIRE_THROWS_AS(make_allocator("pool:biggest"), SpecError);
  REQUIRE_THROWS_WITH(make_allocator("pool:biggest"),
                      Catch::Contains("best") && Catch::Contains("first") && Catch::Contains("worst"));
  REQUIRE_THROWS_WITH(make_allocator("arena:joint"), Catch::Contains("separate"));
  REQUIRE_THROWS_WITH(make_allocator("mmap:huge"), Catch::Contains("no option"));
  REQUIRE_THROWS_WITH(make_allocator("planned:x"), Catch::Contains("no option"));
  for (const char* spec :
       {"arena", "arena:separate", "pool", "pool:best", "pool:first", "pool:worst", "mmap", "planned"})
    REQUIRE(make_allocator(spec)->name() == spec);
}

TEST_CASE("every allocator without options refuses one in the same words", "[strategies]") {
  int without = 0;
  for (const auto& entry : allocator_entries()) {
    if (entry.usage != entry.name) continue;  // it takes an option: "pool[:best|first|worst]"
    ++without;
    const std::string name(entry.name);
    INFO(name);
    REQUIRE_THROWS_WITH(make_allocator(name + ":x"), "allocator '" + name + "' takes no option (got '" + name + ":x')");
  }
  REQUIRE(without >= 6);  // malloc, jemalloc, mimalloc, tcmalloc, mmap, planned
}

// ---- arena ----

TEST_CASE("arena: sized by the first step, no growth on identical steps, grows when a step needs more",
          "[strategies]") {
  for (const char* spec : {"arena", "arena:separate"}) {
    INFO("strategy " << spec);
    auto allocator = make_allocator(spec);
    Allocator& a = *allocator;
    std::mt19937_64 rng(1);
    Harness h(a);
    setup_buffers(h, a, rng);
    const double persistent = figure(a, "arena_persistent_bytes");
    REQUIRE(persistent >= double(a.stats().live_bytes));
    REQUIRE(figure(a, "arena_step_region_bytes") == 0);

    trainer_like_step(h, a, 0, 9);
    const std::size_t reserved = *a.reserved_bytes();
    const double region = figure(a, "arena_step_region_bytes");
    REQUIRE(region > 0);
    REQUIRE(figure(a, "arena_growths") == 0);  // the first sizing is not a growth
    // Every step's bump offsets are back at zero: only persistent bytes are handed out.
    REQUIRE(double(*a.allocated_bytes()) == persistent);
    for (int step = 1; step < 5; ++step) {
      trainer_like_step(h, a, step, 9);
      REQUIRE(*a.reserved_bytes() == reserved);
      REQUIRE(double(*a.allocated_bytes()) == persistent);
    }
    REQUIRE(figure(a, "arena_growths") == 0);
    const double spills = figure(a, "arena_spill_chunks");

    trainer_like_step(h, a, 5, 9, 8, 2);  // the same step with every buffer twice as large
    REQUIRE(figure(a, "arena_growths") >= 1);
    REQUIRE(figure(a, "arena_spill_chunks") > spills);
    REQUIRE(figure(a, "arena_step_region_bytes") > region);
    const std::size_t grown = *a.reserved_bytes();
    trainer_like_step(h, a, 6, 9, 8, 2);
    trainer_like_step(h, a, 7, 9);
    REQUIRE(*a.reserved_bytes() == grown);
    REQUIRE(figure(a, "arena_skipped_resets") == 0);
  }
}

TEST_CASE("arena: inside a step a freed buffer is not reused, the region is rewound at step end", "[strategies]") {
  auto a = make_allocator("arena");
  a->step_begin(0);
  a->phase_begin(Phase::forward);
  const AllocRequest r{1000, 64, BufferKind::activation, 0};
  void* first = a->allocate(r);
  a->deallocate(first, r);
  void* second = a->allocate(r);
  REQUIRE(second != first);
  a->deallocate(second, r);
  a->step_end(0);
  a->step_begin(1);
  a->phase_begin(Phase::forward);
  void* again = a->allocate(r);
  a->deallocate(again, r);
  a->step_end(1);
  a->step_begin(2);
  a->phase_begin(Phase::forward);
  REQUIRE(a->allocate(r) == again);  // same offset of the same region, step after step
  a->deallocate(again, r);
  a->step_end(2);
}

TEST_CASE("arena:separate holds less than arena for the same steps", "[strategies]") {
  double region[2];
  int i = 0;
  for (const char* spec : {"arena", "arena:separate"}) {
    auto allocator = make_allocator(spec);
    std::mt19937_64 rng(1);
    Harness h(*allocator);
    setup_buffers(h, *allocator, rng);
    for (int step = 0; step < 3; ++step) trainer_like_step(h, *allocator, step, 21, 12);
    region[i++] = figure(*allocator, "arena_step_region_bytes");
    REQUIRE(figure(*allocator, "arena_skipped_resets") == 0);
  }
  INFO("arena " << region[0] << " bytes, arena:separate " << region[1] << " bytes");
  REQUIRE(region[1] < 0.8 * region[0]);
}

TEST_CASE("arena: a buffer alive at step end is not overwritten by the next step", "[strategies]") {
  for (const char* spec : {"arena", "arena:separate"}) {
    INFO("strategy " << spec);
    auto allocator = make_allocator(spec);
    Allocator& a = *allocator;
    Harness h(a);
    trainer_like_step(h, a, 0, 4);
    a.step_begin(1);
    a.phase_begin(Phase::forward);
    void* survivor = h.allocate(4000, 64, BufferKind::activation, 0);
    a.step_end(1);  // breaks the contract: the region cannot be rewound
    REQUIRE(figure(a, "arena_skipped_resets") >= 1);
    trainer_like_step(h, a, 2, 4);
    h.free(survivor);  // checks its contents
    trainer_like_step(h, a, 3, 4);
  }
}

// ---- pool ----

TEST_CASE("pool: rounded blocks reused, split and merged, trim releases free segments", "[strategies]") {
  auto allocator = make_allocator("pool");
  Allocator& a = *allocator;
  Harness h(a);
  void* p1 = h.allocate(100, 64, BufferKind::temporary, 0);
  REQUIRE(*a.allocated_bytes() == 512);
  REQUIRE(*a.reserved_bytes() == 2 * MiB);  // small requests share a 2 MiB segment
  void* p2 = h.allocate(1000, 64, BufferKind::temporary, 0);
  void* p3 = h.allocate(5000, 64, BufferKind::temporary, 0);
  REQUIRE(*a.allocated_bytes() == 512 + 1024 + 5120);
  REQUIRE(*a.reserved_bytes() == 2 * MiB);
  REQUIRE(figure(a, "pool_splits") == 3);
  h.free(p2);
  h.free(p1);  // merges with p2's block
  h.free(p3);  // merges with both sides: the segment is one free block again
  REQUIRE(figure(a, "pool_merges") == 3);
  REQUIRE(figure(a, "pool_free_blocks") == 1);
  REQUIRE(*a.allocated_bytes() == 0);
  REQUIRE(*a.reserved_bytes() == 2 * MiB);  // kept for reuse

  void* big = h.allocate(5 * MiB, 64, BufferKind::activation, 0);  // large pool: a 20 MiB segment
  // Larger than the 15 MiB left of that segment: a segment of its own, rounded up to 2 MiB.
  void* huge = h.allocate(16 * MiB + 1, 64, BufferKind::activation, 0);
  REQUIRE(*a.reserved_bytes() == 2 * MiB + 20 * MiB + 18 * MiB);
  REQUIRE(figure(a, "pool_segments") == 3);
  void* reused = h.allocate(300 * KiB, 4096, BufferKind::activation, 0);  // from the cached small segment
  REQUIRE(*a.reserved_bytes() == 40 * MiB);
  h.free(huge);
  a.trim();  // the small segment holds `reused`, the 20 MiB one `big`: only the 18 MiB one goes
  REQUIRE(*a.reserved_bytes() == 22 * MiB);
  h.check_all_intact();
  h.free(big);
  h.free(reused);
  REQUIRE(*a.reserved_bytes() == 22 * MiB);
  a.trim();
  REQUIRE(*a.reserved_bytes() == 0);
  REQUIRE(figure(a, "pool_segments") == 0);
  REQUIRE(figure(a, "pool_peak_reserved_bytes") == 40 * MiB);
  // And it serves again after everything went back.
  h.free(h.allocate(1000, 64, BufferKind::temporary, 0));
  REQUIRE(*a.reserved_bytes() == 2 * MiB);
}

TEST_CASE("pool: identical steps reserve nothing more after the first", "[strategies]") {
  for (const char* spec : {"pool:best", "pool:first", "pool:worst"}) {
    INFO("strategy " << spec);
    auto allocator = make_allocator(spec);
    std::mt19937_64 rng(2);
    Harness h(*allocator);
    setup_buffers(h, *allocator, rng);
    trainer_like_step(h, *allocator, 0, 13);
    trainer_like_step(h, *allocator, 1, 13);
    const std::size_t reserved = *allocator->reserved_bytes();
    for (int step = 2; step < 6; ++step) trainer_like_step(h, *allocator, step, 13);
    REQUIRE(*allocator->reserved_bytes() == reserved);
  }
}

TEST_CASE("pool: best, first and worst fit choose different blocks", "[strategies]") {
  // One 20 MiB large-pool segment: holes of 4 MiB at 0 and 2 MiB at 5.5 MiB, 11 MiB free at the end.
  struct Outcome {
    std::ptrdiff_t first_choice;  // offset of the 2 MiB request from the segment start
    std::size_t reserved;
  };
  auto run = [](const char* spec) {
    auto allocator = make_allocator(spec);
    Allocator& a = *allocator;
    Harness h(a);
    const auto alloc = [&](double mib) {
      return static_cast<char*>(h.allocate(std::size_t(mib * double(MiB)), 64, BufferKind::activation, 0));
    };
    char* hole4 = alloc(4);
    char* guard1 = alloc(1.5);
    char* hole2 = alloc(2);
    char* guard2 = alloc(1.5);
    REQUIRE(*a.reserved_bytes() == 20 * MiB);
    h.free(hole4);
    h.free(hole2);
    char* two = alloc(2);   // best: the 2 MiB hole; first: the 4 MiB one; worst: the tail
    char* four = alloc(4);  // best: the 4 MiB hole; first and worst: the tail
    char* nine = alloc(9);  // best: the 11 MiB tail fits; first and worst: what is left is too short
    Outcome outcome{two - hole4, *a.reserved_bytes()};
    for (char* p : {guard1, guard2, two, four, nine}) h.free(p);
    return outcome;
  };
  const Outcome best = run("pool:best"), first = run("pool:first"), worst = run("pool:worst");
  REQUIRE(best.first_choice == std::ptrdiff_t(5 * MiB + MiB / 2));
  REQUIRE(first.first_choice == 0);
  REQUIRE(worst.first_choice == std::ptrdiff_t(9 * MiB));
  REQUIRE(best.reserved == 20 * MiB);
  REQUIRE(first.reserved == 40 * MiB);
  REQUIRE(worst.reserved == 40 * MiB);
}

// ---- mmap ----

TEST_CASE("mmap: every buffer its own whole pages, handed back at once", "[strategies]") {
  auto allocator = make_allocator("mmap");
  Allocator& a = *allocator;
  Harness h(a);
  void* p = h.allocate(1, 64, BufferKind::temporary, 0);
  void* q = h.allocate(4097, 4096, BufferKind::temporary, 0);
  void* r = h.allocate(100, 16384, BufferKind::temporary, 0);  // beyond the page: still aligned
  REQUIRE(*a.reserved_bytes() == 4 * 4096);
  REQUIRE(*a.allocated_bytes() == 1 + 4097 + 100);
  REQUIRE(figure(a, "mmap_mappings") == 3);
  h.free(q);
  REQUIRE(*a.reserved_bytes() == 2 * 4096);
  h.free(p);
  h.free(r);
  REQUIRE(*a.reserved_bytes() == 0);
  REQUIRE(figure(a, "mmap_peak_mapped_bytes") == 4 * 4096);
}

// ---- planned ----

TEST_CASE("planned: later identical steps run on the slab with no fallback", "[strategies]") {
  auto allocator = make_allocator("planned");
  Allocator& a = *allocator;
  std::mt19937_64 rng(5);
  Harness h(a);
  setup_buffers(h, a, rng);
  REQUIRE_FALSE(has_figure(a, "plan_slab_bytes"));  // no plan before the first step
  trainer_like_step(h, a, 0, 17);                   // recorded
  const double slab = figure(a, "plan_slab_bytes");
  const double lower_bound = figure(a, "plan_lower_bound_bytes");
  REQUIRE(lower_bound > 0);
  REQUIRE(slab >= lower_bound);
  REQUIRE(slab <= 1.25 * lower_bound);
  const std::size_t reserved = *a.reserved_bytes();
  REQUIRE(reserved >= std::size_t(slab));

  // Same sequence: every in-step request lands in the slab, at the same address each step.
  struct Recorder : AllocObserver {
    std::vector<const void*> pointers;
    void on_allocate(const AllocRequest&, const void* p) override { pointers.push_back(p); }
    void on_deallocate(const AllocRequest&, const void*) override {}
  };
  Recorder step1, step2;
  a.set_observer(&step1);
  trainer_like_step(h, a, 1, 17);
  a.set_observer(&step2);
  trainer_like_step(h, a, 2, 17);
  a.set_observer(nullptr);
  REQUIRE(figure(a, "plan_fallbacks") == 0);
  REQUIRE(step1.pointers == step2.pointers);
  REQUIRE(*a.reserved_bytes() == reserved);
  REQUIRE(figure(a, "plan_slab_bytes") == slab);
}

// The step's buffers, lifetimes and phases, as a dry run gives them (Allocator::reserve_step):
// trainer_like_step(0, seed) watched on glibc.
std::vector<StepBuffer> dry_run_buffers(std::uint64_t seed) {
  struct Lifetimes : AllocObserver {
    std::vector<StepBuffer> buffers;
    std::map<const void*, std::size_t> open;
    std::uint64_t clock = 0;
    bool in_step = false;
    Phase phase = Phase::forward;
    void on_step_begin(int) override { in_step = true; }
    void on_step_end(int) override {
      for (const auto& [p, i] : open) buffers[i].returned = clock;
      in_step = false;
    }
    void on_phase(Phase p) override { phase = p; }
    void on_allocate(const AllocRequest& r, const void* p) override {
      if (!in_step) return;
      open[p] = buffers.size();
      buffers.push_back({r, clock++, 0, phase});
    }
    void on_deallocate(const AllocRequest&, const void* p) override {
      if (const auto it = open.find(p); in_step && it != open.end()) {
        buffers[it->second].returned = clock++;
        open.erase(it);
      }
    }
  };
  Lifetimes dry;
  auto glibc = make_allocator("malloc");
  std::mt19937_64 rng(5);
  Harness h(*glibc);
  setup_buffers(h, *glibc, rng);
  glibc->set_observer(&dry);
  trainer_like_step(h, *glibc, 0, seed);
  glibc->set_observer(nullptr);
  return dry.buffers;
}

// The most the allocator holds at any request of a step.
struct MostReserved : AllocObserver {
  Allocator* a = nullptr;
  std::size_t most = 0;
  void on_allocate(const AllocRequest&, const void*) override { most = std::max(most, *a->reserved_bytes()); }
  void on_deallocate(const AllocRequest&, const void*) override {}
};

TEST_CASE("planned: a plan reserved from a dry run serves the first step from the slab", "[strategies]") {
  const std::vector<StepBuffer> buffers = dry_run_buffers(17);
  REQUIRE(buffers.size() > 8);

  auto allocator = make_allocator("planned");
  Allocator& a = *allocator;
  std::mt19937_64 rng(5);
  Harness h(a);
  setup_buffers(h, a, rng);
  a.reserve_step(buffers);
  REQUIRE(has_figure(a, "plan_slab_bytes"));  // planned before any step
  // Every request of the first step lands in the slab: nothing beside it is taken.
  MostReserved watch;
  watch.a = &a;
  const std::size_t before = *a.reserved_bytes();
  a.set_observer(&watch);
  trainer_like_step(h, a, 0, 17);
  a.set_observer(nullptr);
  REQUIRE(figure(a, "plan_fallbacks") == 0);
  REQUIRE(watch.most == before);
}

TEST_CASE("arena: regions sized from a dry run serve the first step with no spill chunk", "[strategies]") {
  const std::vector<StepBuffer> buffers = dry_run_buffers(17);
  for (const char* spec : {"arena", "arena:separate"}) {
    INFO(spec);
    // Unplanned, the first step spills and sizes the regions at its end.
    std::size_t unplanned = 0;
    {
      auto allocator = make_allocator(spec);
      std::mt19937_64 rng(5);
      Harness h(*allocator);
      setup_buffers(h, *allocator, rng);
      trainer_like_step(h, *allocator, 0, 17);
      REQUIRE(figure(*allocator, "arena_spill_chunks") > 0);
      unplanned = std::size_t(figure(*allocator, "arena_step_region_bytes"));
    }
    auto allocator = make_allocator(spec);
    Allocator& a = *allocator;
    std::mt19937_64 rng(5);
    Harness h(a);
    setup_buffers(h, a, rng);
    a.reserve_step(buffers);
    // The regions the first step would have left behind, made before it.
    REQUIRE(std::size_t(figure(a, "arena_step_region_bytes")) == unplanned);
    MostReserved watch;
    watch.a = &a;
    const std::size_t before = *a.reserved_bytes();
    a.set_observer(&watch);
    trainer_like_step(h, a, 0, 17);
    trainer_like_step(h, a, 1, 17);
    a.set_observer(nullptr);
    REQUIRE(figure(a, "arena_spill_chunks") == 0);
    REQUIRE(figure(a, "arena_growths") == 0);
    REQUIRE(watch.most == before);
  }
}

TEST_CASE("planned: a step that departs from the plan falls back safely and counts it", "[strategies]") {
  auto allocator = make_allocator("planned");
  Allocator& a = *allocator;
  std::mt19937_64 rng(6);
  Harness h(a);
  setup_buffers(h, a, rng);
  trainer_like_step(h, a, 0, 23);
  trainer_like_step(h, a, 1, 24);  // other sizes
  const double fallbacks = figure(a, "plan_fallbacks");
  REQUIRE(fallbacks > 0);
  REQUIRE(figure(a, "plan_first_departure_step") == 1);
  trainer_like_step(h, a, 2, 23, 12);  // the recorded sequence, then more requests than recorded
  REQUIRE(figure(a, "plan_fallbacks") > fallbacks);
  random_step(h, a, 3, 5);
  const double before = figure(a, "plan_fallbacks");
  trainer_like_step(h, a, 4, 23);  // back on the plan
  REQUIRE(figure(a, "plan_fallbacks") == before);

  // Same sizes but other lifetimes: a buffer kept past where the plan frees it.
  // The request that the plan puts over it must not get its range.
  auto b = make_allocator("planned");
  Harness hb(*b);
  const auto step = [&](int s, bool keep_first) {
    b->step_begin(s);
    b->phase_begin(Phase::forward);
    void* x = hb.allocate(64 * KiB, 64, BufferKind::activation, 0);
    if (!keep_first) hb.free(x);
    void* y = hb.allocate(64 * KiB, 64, BufferKind::activation, 1);  // planned over x's range
    hb.free(y);
    if (keep_first) hb.free(x);
    b->step_end(s);
  };
  step(0, false);
  REQUIRE(figure(*b, "plan_slab_bytes") == 64 * KiB);
  step(1, false);
  REQUIRE(figure(*b, "plan_fallbacks") == 0);
  step(2, true);  // the harness checks that y does not overlap x
  REQUIRE(figure(*b, "plan_fallbacks") == 1);
  REQUIRE(figure(*b, "plan_first_departure_step") == 2);
  REQUIRE(figure(*b, "plan_first_departure_index") == 1);
}
