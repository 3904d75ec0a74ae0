// `mimalloc`: Microsoft's allocator, preloaded into the run's process. Its
// version comes from mi_version(); its view from mi_process_info(), whose
// "current commit" is what it holds from the OS (its "rss" is committed memory
// too, so memstrat reads RSS from /proc instead). mimalloc offers no count of
// bytes allocated, so its fragmentation is left out rather than guessed.
#include "strategies/factories.h"
#include "strategies/process_wide.h"
#include "strategies/registry.h"

namespace memstrat {

namespace {

using MiVersion = int (*)();
using MiProcessInfo = void (*)(std::size_t*, std::size_t*, std::size_t*, std::size_t*, std::size_t*, std::size_t*,
                               std::size_t*, std::size_t*);

struct MiInfo {
  std::size_t elapsed_ms, user_ms, system_ms, rss, peak_rss, commit, peak_commit, page_faults;
};

class Mimalloc final : public ProcessWideAllocator {
 public:
  Mimalloc(MiProcessInfo info, std::string version)
      : ProcessWideAllocator("mimalloc", std::move(version)), info_(info) {}
  std::optional<std::size_t> reserved_bytes() const override {
    if (info_ == nullptr) return std::nullopt;
    return read().commit;
  }
  std::vector<std::pair<std::string, double>> own_figures() const override {
    if (info_ == nullptr) return {};
    const MiInfo i = read();
    return {{"mimalloc_peak_commit_bytes", double(i.peak_commit)}};
  }

 private:
  MiInfo read() const {
    MiInfo i{};
    info_(&i.elapsed_ms, &i.user_ms, &i.system_ms, &i.rss, &i.peak_rss, &i.commit, &i.peak_commit, &i.page_faults);
    return i;
  }
  MiProcessInfo info_;
};

}  // namespace

std::unique_ptr<Allocator> make_mimalloc(std::string_view option) {
  refuse_option("allocator", "mimalloc", option);
  require_malloc_from("mimalloc", preload_library("mimalloc"));
  const auto version = find_function<MiVersion>("mi_version");
  if (version == nullptr) throw SpecError("mimalloc serves malloc but has no mi_version()");
  const int v = version();  // 209 is 2.0.9
  return std::make_unique<Mimalloc>(
      find_function<MiProcessInfo>("mi_process_info"),
      std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." + std::to_string(v % 10));
}

}  // namespace memstrat
