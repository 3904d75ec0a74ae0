// Shared by the tests: temporary files, running the CLI, and a plain allocator.
#pragma once

#include <string>
#include <utility>

#include "kernels/allocator.h"
#include "strategies/sanitizer.h"

namespace memstrat::test {

// Built with AddressSanitizer (make test-asan): every test still runs, some on
// smaller configurations, since instrumented code runs several times slower.
inline constexpr bool kSanitized = memstrat::kAddressSanitizer;

// A path in a fresh temporary directory, removed (with the directory) at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

struct CliResult {
  int exit_code;
  std::string out, err;
};

// Runs build/memstrat with the arguments (shell words) and captures both streams;
// `env` (NAME=value ...) is set for it alone.
CliResult run_cli(const std::string& args, const std::string& env = "");

// The same for any program: `program` (a path) with the arguments (shell words).
CliResult run_program(const std::string& program, const std::string& args, const std::string& env = "");

}  // namespace memstrat::test

namespace memstrat {

// aligned_alloc / free behind the Allocator interface, for tests that need an
// allocator and no strategy. Not the `malloc` strategy (strategies/malloc.cpp),
// which also checks that malloc is glibc's and reports mallinfo2().
class MallocAllocator final : public Allocator {
 public:
  MallocAllocator() : Allocator("malloc") {}
  explicit MallocAllocator(std::string name) : Allocator(std::move(name)) {}

 private:
  void* do_allocate(const AllocRequest& request) override;
  void do_deallocate(void* pointer, const AllocRequest& request) noexcept override;
};

}  // namespace memstrat
