// `malloc`: the C library's allocator (glibc ptmalloc2), untouched. Before it
// reports anything, the run checks that malloc really is glibc's (no allocator
// preloaded in front of it); its own view comes from mallinfo2().
//
// In a sanitizer build malloc is AddressSanitizer's own allocator, linked into
// the program (redzones, quarantine): the check then expects the sanitizer's
// runtime, the version names it, and the allocator's view is the runtime's.
#include <gnu/libc-version.h>
#include <malloc.h>

#include "strategies/factories.h"
#include "strategies/process_wide.h"
#include "strategies/registry.h"
#include "strategies/sanitizer.h"

#if defined(MEMSTRAT_ADDRESS_SANITIZER)
// A request that malloc cannot serve returns null, as the C library's does, so
// that every strategy fails with AllocError instead of the sanitizer stopping
// the program. ASAN_OPTIONS still has the last word.
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }

// The sanitizer runtime's allocator statistics (compiler-rt's allocator_interface.h,
// which GCC does not install).
extern "C" {
std::size_t __sanitizer_get_current_allocated_bytes();
std::size_t __sanitizer_get_heap_size();
std::size_t __sanitizer_get_free_bytes();
std::size_t __sanitizer_get_unmapped_bytes();
}
#endif

namespace memstrat {

namespace {

std::string library_of(const void* function) {
  Dl_info info{};
  if (::dladdr(function, &info) == 0 || info.dli_fname == nullptr) return {};
  return info.dli_fname;
}

#if defined(MEMSTRAT_ADDRESS_SANITIZER)

// The shared object (or, where the runtime is linked statically, the program)
// that holds AddressSanitizer's runtime, and with it malloc.
std::string malloc_library() { return library_of(reinterpret_cast<void*>(&__asan_poison_memory_region)); }

class SanitizerMalloc final : public ProcessWideAllocator {
 public:
  SanitizerMalloc()
      : ProcessWideAllocator("malloc", "AddressSanitizer allocator from " + malloc_provider() + " (over glibc " +
                                           ::gnu_get_libc_version() + ")") {}
  // Bytes the runtime's heap holds (redzones and quarantine included), and bytes in live chunks.
  std::optional<std::size_t> reserved_bytes() const override { return __sanitizer_get_heap_size(); }
  std::optional<std::size_t> allocated_bytes() const override { return __sanitizer_get_current_allocated_bytes(); }
  std::vector<std::pair<std::string, double>> own_figures() const override {
    return {{"asan_free_bytes", double(__sanitizer_get_free_bytes())},
            {"asan_unmapped_bytes", double(__sanitizer_get_unmapped_bytes())}};
  }
};

using MallocOfThisBuild = SanitizerMalloc;

#else

std::string malloc_library() { return library_of(reinterpret_cast<void*>(&::gnu_get_libc_version)); }

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
    return {{"glibc_free_bytes", double(m.fordblks)},
            {"glibc_mmapped_bytes", double(m.hblkhd)},
            {"glibc_releasable_bytes", double(m.keepcost)}};
  }
};

using MallocOfThisBuild = GlibcMalloc;

#endif

}  // namespace

std::unique_ptr<Allocator> make_malloc(std::string_view option) {
  refuse_option("allocator", "malloc", option);
  require_malloc_from("malloc", malloc_library());
  return std::make_unique<MallocOfThisBuild>();
}

}  // namespace memstrat
