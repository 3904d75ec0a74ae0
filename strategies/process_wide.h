// What the strategies that replace malloc for the whole process share: they
// are deployed as their users deploy them (preloaded into the run's process),
// and the run proves which library really serves malloc before it reports
// anything under that library's name.
//
// Not a strategy itself; only the process-wide strategy files include it.
#pragma once

#include <dlfcn.h>

#include <string>

#include "kernels/allocator.h"

namespace memstrat {

// Serves the trainer through the process's malloc, whichever library that is.
class ProcessWideAllocator : public Allocator {
 public:
  ProcessWideAllocator(std::string name, std::string version)
      : Allocator(std::move(name)), version_(std::move(version)) {}
  std::string version() const override { return version_; }

 private:
  void* do_allocate(const AllocRequest& request) override;
  void do_deallocate(void* pointer, const AllocRequest& request) noexcept override;
  std::string version_;
};

// The real path of the shared object whose malloc this process calls.
std::string malloc_provider();

// Throws SpecError naming both libraries unless malloc is served by `library`.
void require_malloc_from(const std::string& strategy, const std::string& library);

// A function of the running process looked up by name (null when absent), so
// that the binary links none of the allocators.
template <typename Function>
Function find_function(const char* symbol) {
  return reinterpret_cast<Function>(::dlsym(RTLD_DEFAULT, symbol));
}

}  // namespace memstrat
