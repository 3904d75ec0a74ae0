// `pool[:best|first|worst]`: a caching allocator in the style of PyTorch's CUDA
// caching allocator and TensorFlow's BFC allocator.
//
// Why: frameworks keep freed memory for the next request of a similar size
// instead of handing it back; this is the strategy most training runs get.
//
// Exactly what it does:
// - Sizes are rounded up to a multiple of 512 bytes (512 at least). A request
//   aligned beyond 512 asks for `align - 512` bytes more and is placed at the
//   first aligned address inside its block (blocks start on 512-byte bounds).
// - Two pools, as PyTorch: rounded sizes up to 1 MiB are carved from 2 MiB
//   segments (small pool); larger ones from 20 MiB segments when under 10 MiB,
//   and from a segment of their own, rounded up to 2 MiB, from 10 MiB on
//   (large pool). Segments are anonymous mappings (mmap), so what trim() hands
//   back really leaves the process.
// - A free block is chosen by policy among the pool's free blocks:
//   best (default): the smallest block that fits, O(log n) in a set by size;
//   first: the lowest address that fits, a scan of the free blocks by address;
//   worst: the largest free block, if it fits.
//   When none fits a new segment is mapped.
// - The chosen block is split when the rest could serve a request of its pool
//   (>= 512 bytes in the small pool, > 1 MiB in the large pool, PyTorch's rule);
//   otherwise the whole block is handed out.
// - A freed block is merged with free neighbours of its segment (address order).
// - Memory is kept for reuse: nothing goes back to the OS until trim(), which
//   unmaps every segment that is entirely free. When mapping a segment fails the
//   same is done once before retrying (PyTorch frees its cache on OOM too).
// reserved_bytes() = bytes in segments; allocated_bytes() = bytes of blocks in
// use (rounded sizes, padding included).
// Under AddressSanitizer (sanitizer.h) a segment is poisoned except the
// requested bytes of each block in use: free blocks, the padding before an
// aligned pointer and the rounding after the requested size are all caught.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <list>
#include <set>
#include <unordered_map>

#include "strategies/factories.h"
#include "strategies/registry.h"
#include "strategies/sanitizer.h"

namespace memstrat {

namespace {

constexpr std::size_t kMiB = std::size_t(1) << 20;
constexpr std::size_t kMinBlockBytes = 512;           // rounding unit and smallest block
constexpr std::size_t kSmallRequestBytes = 1 * kMiB;  // up to this: small pool
constexpr std::size_t kSmallSegmentBytes = 2 * kMiB;
constexpr std::size_t kLargeSegmentBytes = 20 * kMiB;
constexpr std::size_t kOwnSegmentBytes = 10 * kMiB;  // from this: a segment of its own
constexpr std::size_t kRoundOwnSegmentBytes = 2 * kMiB;

std::size_t round_up(std::size_t n, std::size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

enum class FitPolicy { best, first, worst };

struct Segment;

// A piece of a segment, in use or free. Blocks of a segment form a list in address order.
struct Block {
  char* ptr = nullptr;
  std::size_t size = 0;
  bool in_use = false;
  Block* prev = nullptr;
  Block* next = nullptr;
  Segment* segment = nullptr;
};

struct Segment {
  char* base = nullptr;
  std::size_t size = 0;
  bool small = false;
  Block* first = nullptr;
  bool entirely_free() const { return first != nullptr && !first->in_use && first->next == nullptr; }
};

struct BySize {
  using is_transparent = void;
  bool operator()(const Block* a, const Block* b) const {
    return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
  }
  bool operator()(const Block* a, std::size_t size) const { return a->size < size; }
  bool operator()(std::size_t size, const Block* b) const { return size < b->size; }
};

struct ByAddress {
  bool operator()(const Block* a, const Block* b) const { return a->ptr < b->ptr; }
};

// The free blocks of one pool, indexed both ways: by size for best and worst fit,
// by address for first fit.
struct FreeBlocks {
  std::set<Block*, BySize> by_size;
  std::set<Block*, ByAddress> by_address;
  void insert(Block* b) {
    by_size.insert(b);
    by_address.insert(b);
  }
  void erase(Block* b) {
    by_size.erase(b);
    by_address.erase(b);
  }
};

class PoolAllocator final : public Allocator {
 public:
  PoolAllocator(std::string name, FitPolicy policy) : Allocator(std::move(name)), policy_(policy) {}
  ~PoolAllocator() override {
    for (Segment& s : segments_) {
      for (Block* b = s.first; b != nullptr;) {
        Block* next = b->next;
        delete b;
        b = next;
      }
      unpoison_memory(s.base, s.size);
      ::munmap(s.base, s.size);
    }
    for (Block* b : spare_blocks_) delete b;
  }

  std::optional<std::size_t> reserved_bytes() const override { return reserved_bytes_; }
  std::optional<std::size_t> allocated_bytes() const override { return allocated_bytes_; }

  void trim() override { release_free_segments(); }

  std::vector<std::pair<std::string, double>> own_figures() const override {
    return {{"pool_segments", double(segments_.size())},
            {"pool_peak_reserved_bytes", double(peak_reserved_bytes_)},
            {"pool_peak_allocated_bytes", double(peak_allocated_bytes_)},
            {"pool_segment_maps", double(segment_maps_)},
            {"pool_splits", double(splits_)},
            {"pool_merges", double(merges_)},
            {"pool_free_blocks", double(small_free_.by_size.size() + large_free_.by_size.size())},
            {"pool_released_bytes", double(released_bytes_)}};
  }

 private:
  void* do_allocate(const AllocRequest& request) override {
    const std::size_t align = request.align;
    if (align == 0 || (align & (align - 1)) != 0)
      fail(request, "alignment " + std::to_string(align) + " is not a power of two");
    if (request.bytes > SIZE_MAX / 2 || align > SIZE_MAX / 4) fail(request, "size overflows the address space");
    const std::size_t padding = align > kMinBlockBytes ? align - kMinBlockBytes : 0;
    const std::size_t needed = round_up(std::max(request.bytes, std::size_t(1)), kMinBlockBytes) + padding;
    const bool small = needed <= kSmallRequestBytes;
    FreeBlocks& pool = small ? small_free_ : large_free_;

    Block* block = find_free(pool, needed);
    if (block != nullptr) {
      pool.erase(block);
    } else {
      block = map_segment(request, needed, small);
    }
    split(block, needed, small);
    block->in_use = true;
    allocated_bytes_ += block->size;
    if (allocated_bytes_ > peak_allocated_bytes_) peak_allocated_bytes_ = allocated_bytes_;

    const auto address = reinterpret_cast<std::uintptr_t>(block->ptr);
    char* pointer = block->ptr + (align - address % align) % align;
    live_.emplace(pointer, block);
    unpoison_memory(pointer, request.bytes);
    return pointer;
  }

  void do_deallocate(void* pointer, const AllocRequest&) noexcept override {
    const auto it = live_.find(pointer);
    if (it == live_.end()) return;  // not ours: nothing sensible to do in a noexcept path
    Block* block = it->second;
    live_.erase(it);
    poison_memory(block->ptr, block->size);
    block->in_use = false;
    allocated_bytes_ -= block->size;
    FreeBlocks& pool = block->segment->small ? small_free_ : large_free_;
    if (block->prev != nullptr && !block->prev->in_use) {
      Block* prev = block->prev;
      pool.erase(prev);
      absorb_next(prev);
      block = prev;
    }
    if (block->next != nullptr && !block->next->in_use) {
      pool.erase(block->next);
      absorb_next(block);
    }
    pool.insert(block);
  }

  Block* find_free(FreeBlocks& pool, std::size_t needed) const {
    switch (policy_) {
      case FitPolicy::best: {
        const auto it = pool.by_size.lower_bound(needed);
        return it != pool.by_size.end() ? *it : nullptr;
      }
      case FitPolicy::first:
        for (Block* b : pool.by_address)
          if (b->size >= needed) return b;
        return nullptr;
      case FitPolicy::worst:
        if (!pool.by_size.empty() && (*pool.by_size.rbegin())->size >= needed) return *pool.by_size.rbegin();
        return nullptr;
    }
    return nullptr;
  }

  // A fresh segment for a request no free block could hold; returns its one block.
  Block* map_segment(const AllocRequest& request, std::size_t needed, bool small) {
    const std::size_t size = small                       ? kSmallSegmentBytes
                             : needed < kOwnSegmentBytes ? kLargeSegmentBytes
                                                         : round_up(needed, kRoundOwnSegmentBytes);
    ++segment_maps_;
    void* mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED && release_free_segments() > 0)
      mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED)
      fail(request, "mmap of a " + std::to_string(size) + "-byte segment failed: " + std::strerror(errno));
    poison_memory(mapped, size);
    Segment& segment = segments_.emplace_back();
    segment.base = static_cast<char*>(mapped);
    segment.size = size;
    segment.small = small;
    Block* block = new_block();
    block->ptr = segment.base;
    block->size = size;
    block->segment = &segment;
    segment.first = block;
    reserved_bytes_ += size;
    if (reserved_bytes_ > peak_reserved_bytes_) peak_reserved_bytes_ = reserved_bytes_;
    return block;
  }

  // Cuts `block` to `needed` bytes when the rest is worth keeping as a free block.
  void split(Block* block, std::size_t needed, bool small) {
    const std::size_t rest = block->size - needed;
    const bool worth = small ? rest >= kMinBlockBytes : rest > kSmallRequestBytes;
    if (!worth) return;
    Block* remainder = new_block();
    remainder->ptr = block->ptr + needed;
    remainder->size = rest;
    remainder->segment = block->segment;
    remainder->prev = block;
    remainder->next = block->next;
    if (block->next != nullptr) block->next->prev = remainder;
    block->next = remainder;
    block->size = needed;
    (small ? small_free_ : large_free_).insert(remainder);
    ++splits_;
  }

  // Merges block->next (free, already out of the free sets) into block.
  void absorb_next(Block* block) {
    Block* next = block->next;
    block->size += next->size;
    block->next = next->next;
    if (next->next != nullptr) next->next->prev = block;
    recycle_block(next);
    ++merges_;
  }

  // Unmaps every segment that holds no block in use; returns the bytes released.
  std::size_t release_free_segments() {
    std::size_t released = 0;
    for (auto it = segments_.begin(); it != segments_.end();) {
      if (!it->entirely_free()) {
        ++it;
        continue;
      }
      (it->small ? small_free_ : large_free_).erase(it->first);
      recycle_block(it->first);
      // The next mapping at these addresses, ours or not, must start addressable.
      unpoison_memory(it->base, it->size);
      ::munmap(it->base, it->size);
      released += it->size;
      reserved_bytes_ -= it->size;
      it = segments_.erase(it);
    }
    released_bytes_ += released;
    return released;
  }

  Block* new_block() {
    if (spare_blocks_.empty()) return new Block;
    Block* b = spare_blocks_.back();
    spare_blocks_.pop_back();
    *b = Block{};
    return b;
  }
  void recycle_block(Block* b) { spare_blocks_.push_back(b); }

  FitPolicy policy_;
  std::list<Segment> segments_;  // a list: blocks point at their segment
  FreeBlocks small_free_, large_free_;
  std::unordered_map<void*, Block*> live_;  // pointer handed out -> its block
  std::vector<Block*> spare_blocks_;
  std::size_t reserved_bytes_ = 0, peak_reserved_bytes_ = 0;
  std::size_t allocated_bytes_ = 0, peak_allocated_bytes_ = 0;
  std::size_t released_bytes_ = 0;
  std::uint64_t segment_maps_ = 0, splits_ = 0, merges_ = 0;
};

}  // namespace

std::unique_ptr<Allocator> make_pool(std::string_view option) {
  if (option.empty()) return std::make_unique<PoolAllocator>("pool", FitPolicy::best);
  const std::string name = "pool:" + std::string(option);
  if (option == "best") return std::make_unique<PoolAllocator>(name, FitPolicy::best);
  if (option == "first") return std::make_unique<PoolAllocator>(name, FitPolicy::first);
  if (option == "worst") return std::make_unique<PoolAllocator>(name, FitPolicy::worst);
  throw SpecError("allocator 'pool' takes :best, :first or :worst (got '" + name + "')");
}

}  // namespace memstrat
