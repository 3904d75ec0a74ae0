// Shared by the tests: temporary files and running the CLI.
#pragma once

#include <string>

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
