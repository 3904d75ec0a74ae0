#include "strategies/registry.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "strategies/factories.h"
#include "strategies/sanitizer.h"

namespace memstrat {

const std::vector<AllocatorEntry>& allocator_entries() {
  static const std::vector<AllocatorEntry> entries = {
      {"malloc", "malloc", "the C library's allocator (glibc ptmalloc2), untouched", false, "", make_malloc},
      {"jemalloc", "jemalloc", "jemalloc, preloaded into the run's process", true, MEMSTRAT_JEMALLOC_PATH,
       make_jemalloc},
      {"mimalloc", "mimalloc", "mimalloc, preloaded into the run's process", true, MEMSTRAT_MIMALLOC_PATH,
       make_mimalloc},
      {"tcmalloc", "tcmalloc", "gperftools tcmalloc, preloaded into the run's process", true, MEMSTRAT_TCMALLOC_PATH,
       make_tcmalloc},
      {"preload", "preload:PATH", "any other malloc-compatible shared library, preloaded", true, "", make_preload},
      {"arena", "arena[:separate]",
       "cyclic workspace: persistent region + per-step bump region reset every step "
       "(:separate: regions by phase and purpose, each rewound once empty)",
       false, "", make_arena},
      {"pool", "pool[:best|first|worst]",
       "caching allocator (PyTorch/BFC style): rounded sizes, split and coalesce, kept until trim", false, "",
       make_pool},
      {"mmap", "mmap", "every buffer its own anonymous mapping, unmapped on free", false, "", make_mmap},
      {"planned", "planned", "static plan: first step recorded, offsets assigned greedy-by-size in one slab", false, "",
       make_planned},
  };
  return entries;
}

std::pair<std::string_view, std::string_view> split_spec(std::string_view spec) {
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos) return {spec, {}};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

void refuse_option(std::string_view kind, std::string_view name, std::string_view option) {
  if (option.empty()) return;
  throw SpecError(std::string(kind) + " '" + std::string(name) + "' takes no option (got '" + std::string(name) + ":" +
                  std::string(option) + "')");
}

static const AllocatorEntry& find_entry(std::string_view spec) {
  const auto name = split_spec(spec).first;
  for (const auto& entry : allocator_entries())
    if (entry.name == name) return entry;
  std::string known;
  for (const auto& entry : allocator_entries()) known += (known.empty() ? "" : ", ") + std::string(entry.usage);
  throw SpecError("unknown allocator '" + std::string(spec) + "' (known: " + known + ")");
}

std::unique_ptr<Allocator> make_allocator(std::string_view spec) {
  return find_entry(spec).make(split_spec(spec).second);
}

// preload:PATH must name a loadable library that defines malloc. jemalloc-like
// libraries may refuse dlopen (static TLS) yet preload fine: those are let
// through here and proven once preloaded.
static std::string check_preload_path(std::string_view option) {
  const std::string path(option);
  if (path.empty()) throw SpecError("preload needs a library: preload:/path/to/libfoo.so");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw SpecError("preload:" + path + ": no such library file");
  char resolved[PATH_MAX];
  std::string real = ::realpath(path.c_str(), resolved) != nullptr ? resolved : path;
  if (void* handle = ::dlopen(real.c_str(), RTLD_LAZY | RTLD_LOCAL)) {
    const bool has_malloc = ::dlsym(handle, "malloc") != nullptr && ::dlsym(handle, "free") != nullptr;
    // Symbols found through the handle may come from the library's own dependencies (libc):
    // the library itself must be the one that defines malloc.
    Dl_info info{};
    const bool own = has_malloc && ::dladdr(::dlsym(handle, "malloc"), &info) != 0 && info.dli_fname != nullptr &&
                     ::realpath(info.dli_fname, resolved) != nullptr && real == resolved;
    ::dlclose(handle);
    if (!own) throw SpecError("preload:" + path + " does not define malloc and free: it is not an allocator");
  } else {
    const std::string error = ::dlerror();
    if (error.find("static TLS") == std::string::npos)
      throw SpecError("preload:" + path + " cannot be loaded: " + error);
  }
  return real;
}

std::string refused_in_this_build(std::string_view spec) {
  const auto& entry = find_entry(spec);
  if (kAddressSanitizer && entry.process_wide)
    return "allocator '" + std::string(entry.name) +
           "' cannot run in a sanitizer build (MEMSTRAT_SANITIZE): AddressSanitizer owns malloc, so nothing can "
           "be preloaded in front of it; use a plain build";
  return {};
}

std::string preload_library(std::string_view spec) {
  const auto& entry = find_entry(spec);
  if (!entry.process_wide) return {};
  if (const std::string refusal = refused_in_this_build(spec); !refusal.empty()) throw SpecError(refusal);
  if (entry.name == "preload") return check_preload_path(split_spec(spec).second);
  if (entry.library.empty())
    throw SpecError("allocator '" + std::string(entry.name) +
                    "' was not found when memstrat was built: install it (scripts/setup.sh) and rebuild");
  return std::string(entry.library);
}

}  // namespace memstrat
