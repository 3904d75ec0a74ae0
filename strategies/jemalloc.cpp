// `jemalloc`: Jason Evans's allocator, preloaded into the run's process as its
// users deploy it. Its version and statistics are read from jemalloc itself
// through mallctl, looked up at run time so that memstrat links no allocator.
#include <cstdint>

#include "strategies/factories.h"
#include "strategies/process_wide.h"
#include "strategies/registry.h"

namespace memstrat {

namespace {

using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);

class Jemalloc final : public ProcessWideAllocator {
 public:
  Jemalloc(Mallctl mallctl, std::string version)
      : ProcessWideAllocator("jemalloc", std::move(version)), mallctl_(mallctl) {}
  std::optional<std::size_t> reserved_bytes() const override { return stat("stats.resident"); }
  std::optional<std::size_t> allocated_bytes() const override { return stat("stats.allocated"); }
  std::vector<std::pair<std::string, double>> own_figures() const override {
    std::vector<std::pair<std::string, double>> figures;
    for (const char* name : {"active", "mapped", "retained", "metadata"})
      if (auto value = stat((std::string("stats.") + name).c_str()))
        figures.emplace_back(std::string("jemalloc_") + name + "_bytes", double(*value));
    return figures;
  }

 private:
  // jemalloc caches its statistics; advancing the epoch refreshes them.
  std::optional<std::size_t> stat(const char* name) const {
    std::uint64_t epoch = 1;
    std::size_t length = sizeof epoch;
    mallctl_("epoch", &epoch, &length, &epoch, length);
    std::size_t value = 0;
    length = sizeof value;
    if (mallctl_(name, &value, &length, nullptr, 0) != 0) return std::nullopt;
    return value;
  }
  Mallctl mallctl_;
};

}  // namespace

std::unique_ptr<Allocator> make_jemalloc(std::string_view option) {
  refuse_option("allocator", "jemalloc", option);
  require_malloc_from("jemalloc", preload_library("jemalloc"));
  const auto mallctl = find_function<Mallctl>("mallctl");
  const char* version = nullptr;
  std::size_t length = sizeof version;
  if (mallctl == nullptr || mallctl("version", &version, &length, nullptr, 0) != 0 || version == nullptr)
    throw SpecError("jemalloc serves malloc but does not answer mallctl(\"version\")");
  return std::make_unique<Jemalloc>(mallctl, version);
}

}  // namespace memstrat
