// `preload:PATH`: any other malloc-compatible shared library, preloaded into
// the run's process, for evaluating a new allocator. The run refuses to report
// unless malloc really comes from PATH; it knows nothing of its statistics.
#include "strategies/factories.h"
#include "strategies/process_wide.h"
#include "strategies/registry.h"

namespace memstrat {

std::unique_ptr<Allocator> make_preload(std::string_view option) {
  const std::string library = preload_library("preload:" + std::string(option));
  require_malloc_from("preload:" + std::string(option), library);
  return std::make_unique<ProcessWideAllocator>("preload:" + std::string(option), std::string());
}

}  // namespace memstrat
