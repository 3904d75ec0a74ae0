// `malloc`: the C library's allocator (glibc ptmalloc2), untouched. Before it
// reports anything, the run checks that malloc really is glibc's (no allocator
// preloaded in front of it); its own view comes from mallinfo2().
#include <gnu/libc-version.h>
#include <malloc.h>

#include "strategies/factories.h"
#include "strategies/process_wide.h"
#include "strategies/registry.h"

namespace memstrat {

namespace {

class GlibcMalloc final : public ProcessWideAllocator {
 public:
  GlibcMalloc() : ProcessWideAllocator("malloc", std::string("glibc ") + ::gnu_get_libc_version()) {}
  // Bytes taken from the OS: the heaps (sbrk and arenas) plus the chunks mmapped on their own.
  std::optional<std::size_t> reserved_bytes() const override {
    const struct mallinfo2 m = ::mallinfo2();
    return m.arena + m.hblkhd;
  }
  std::optional<std::size_t> allocated_bytes() const override {
    const struct mallinfo2 m = ::mallinfo2();
    return m.uordblks + m.hblkhd;
  }
  std::vector<std::pair<std::string, double>> own_figures() const override {
    const struct mallinfo2 m = ::mallinfo2();
    return {{"glibc_free_bytes", double(m.fordblks)}, {"glibc_mmapped_bytes", double(m.hblkhd)},
            {"glibc_releasable_bytes", double(m.keepcost)}};
  }
};

std::string libc_path() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&::gnu_get_libc_version), &info) == 0 || info.dli_fname == nullptr) return {};
  return info.dli_fname;
}

}  // namespace

std::unique_ptr<Allocator> make_malloc(std::string_view option) {
  if (!option.empty()) throw SpecError("allocator 'malloc' takes no option (got '" + std::string(option) + "')");
  require_malloc_from("malloc", libc_path());
  return std::make_unique<GlibcMalloc>();
}

}  // namespace memstrat
