#include "strategies/process_wide.h"

#include <cstdlib>
#include <limits.h>
#include <stdlib.h>

#include "strategies/registry.h"

namespace memstrat {

void* ProcessWideAllocator::do_allocate(const AllocRequest& request) {
  void* pointer = nullptr;
  return ::posix_memalign(&pointer, request.align, request.bytes) == 0 ? pointer : nullptr;
}

void ProcessWideAllocator::do_deallocate(void* pointer, const AllocRequest&) noexcept { std::free(pointer); }

static std::string real_path(const std::string& path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) != nullptr ? std::string(resolved) : path;
}

std::string malloc_provider() {
  Dl_info info{};
  void* symbol = ::dlsym(RTLD_DEFAULT, "malloc");
  if (symbol == nullptr || ::dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) return "(unknown)";
  return real_path(info.dli_fname);
}

void require_malloc_from(const std::string& strategy, const std::string& library) {
  const std::string provider = malloc_provider();
  if (provider == real_path(library)) return;
  throw SpecError("allocator '" + strategy + "' is not the one serving malloc in this process (malloc comes from " +
                  provider + ", expected " + library +
                  "): run it through memstrat, which preloads it, or check that the library is a malloc replacement");
}

}  // namespace memstrat
