// `mmap`: every buffer its own anonymous mapping (MAP_PRIVATE | MAP_ANONYMOUS),
// its size rounded up to whole pages, unmapped on free.
//
// Why: the opposite extreme of a caching allocator. Memory goes back to the OS
// the moment a buffer dies, so RSS follows the live bytes closely, at the cost of
// a system call per allocate and free and a page fault on every first touch.
// The kernel hands out page-aligned addresses, which covers every alignment up
// to the page size; larger alignments map the excess and unmap the ends.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

namespace {

std::size_t page_size() {
  static const std::size_t page = [] {
    const long size = ::sysconf(_SC_PAGESIZE);
    return size > 0 ? std::size_t(size) : std::size_t(4096);
  }();
  return page;
}

std::size_t round_up(std::size_t n, std::size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

class MmapAllocator final : public Allocator {
 public:
  MmapAllocator() : Allocator("mmap") {}

  // The bytes mapped for live buffers (whole pages).
  std::optional<std::size_t> reserved_bytes() const override { return mapped_bytes_; }
  // The bytes of those mappings that the live buffers asked for.
  std::optional<std::size_t> allocated_bytes() const override { return requested_bytes_; }
  std::vector<std::pair<std::string, double>> own_figures() const override {
    return {{"mmap_mappings", double(mappings_)},
            {"mmap_peak_mapped_bytes", double(peak_mapped_bytes_)},
            {"mmap_map_calls", double(map_calls_)}};
  }

 private:
  void* do_allocate(const AllocRequest& request) override {
    const std::size_t page = page_size();
    if (request.align == 0 || (request.align & (request.align - 1)) != 0)
      fail(request, "alignment " + std::to_string(request.align) + " is not a power of two");
    if (request.bytes > SIZE_MAX - 2 * (page + request.align)) fail(request, "size overflows the address space");
    const std::size_t length = round_up(request.bytes, page);
    // Beyond the page size the kernel gives no alignment: map the excess and trim it.
    const std::size_t extra = request.align > page ? request.align - page : 0;
    ++map_calls_;
    void* mapped = ::mmap(nullptr, length + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) fail(request, std::string("mmap failed: ") + std::strerror(errno));
    auto* base = static_cast<char*>(mapped);
    if (extra > 0) {
      const auto address = reinterpret_cast<std::uintptr_t>(base);
      const std::size_t head = (request.align - address % request.align) % request.align;
      if (head > 0) ::munmap(base, head);
      const std::size_t tail = extra - head;
      if (tail > 0) ::munmap(base + head + length, tail);
      base += head;
    }
    mapped_bytes_ += length;
    requested_bytes_ += request.bytes;
    ++mappings_;
    if (mapped_bytes_ > peak_mapped_bytes_) peak_mapped_bytes_ = mapped_bytes_;
    return base;
  }

  void do_deallocate(void* pointer, const AllocRequest& request) noexcept override {
    const std::size_t length = round_up(request.bytes, page_size());
    ::munmap(pointer, length);
    mapped_bytes_ -= length;
    requested_bytes_ -= request.bytes;
    --mappings_;
  }

  std::size_t mapped_bytes_ = 0;
  std::size_t requested_bytes_ = 0;
  std::size_t peak_mapped_bytes_ = 0;
  std::size_t mappings_ = 0;
  std::uint64_t map_calls_ = 0;
};

}  // namespace

std::unique_ptr<Allocator> make_mmap(std::string_view option) {
  refuse_option("allocator", "mmap", option);
  return std::make_unique<MmapAllocator>();
}

}  // namespace memstrat
