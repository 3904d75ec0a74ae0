// `tcmalloc`: gperftools' thread-caching allocator, preloaded into the run's
// process. Version from tc_version(); its view from MallocExtension's numeric
// properties, looked up at run time.
#include "strategies/factories.h"
#include "strategies/process_wide.h"
#include "strategies/registry.h"

namespace memstrat {

namespace {

using TcVersion = const char* (*)(int*, int*, const char**);
using GetProperty = int (*)(const char*, std::size_t*);

class Tcmalloc final : public ProcessWideAllocator {
 public:
  Tcmalloc(GetProperty get, std::string version) : ProcessWideAllocator("tcmalloc", std::move(version)), get_(get) {}
  std::optional<std::size_t> reserved_bytes() const override {
    // The heap less what tcmalloc has already handed back to the OS.
    auto heap = property("generic.heap_size"), unmapped = property("tcmalloc.pageheap_unmapped_bytes");
    if (!heap) return std::nullopt;
    return *heap - unmapped.value_or(0);
  }
  std::optional<std::size_t> allocated_bytes() const override { return property("generic.current_allocated_bytes"); }
  std::vector<std::pair<std::string, double>> own_figures() const override {
    std::vector<std::pair<std::string, double>> figures;
    const std::pair<const char*, const char*> properties[] = {
        {"generic.heap_size", "tcmalloc_heap_size_bytes"},
        {"tcmalloc.pageheap_free_bytes", "tcmalloc_pageheap_free_bytes"},
        {"tcmalloc.pageheap_unmapped_bytes", "tcmalloc_pageheap_unmapped_bytes"}};
    for (const auto& [name, key] : properties)
      if (auto value = property(name)) figures.emplace_back(key, double(*value));
    return figures;
  }

 private:
  std::optional<std::size_t> property(const char* name) const {
    std::size_t value = 0;
    if (get_ == nullptr || get_(name, &value) == 0) return std::nullopt;
    return value;
  }
  GetProperty get_;
};

}  // namespace

std::unique_ptr<Allocator> make_tcmalloc(std::string_view option) {
  refuse_option("allocator", "tcmalloc", option);
  require_malloc_from("tcmalloc", preload_library("tcmalloc"));
  const auto version = find_function<TcVersion>("tc_version");
  if (version == nullptr) throw SpecError("tcmalloc serves malloc but has no tc_version()");
  int major = 0, minor = 0;
  const char* patch = nullptr;
  version(&major, &minor, &patch);
  return std::make_unique<Tcmalloc>(find_function<GetProperty>("MallocExtension_GetNumericProperty"),
                                    std::to_string(major) + "." + std::to_string(minor) + (patch ? patch : ""));
}

}  // namespace memstrat
