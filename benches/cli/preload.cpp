#include "benches/cli/preload.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "strategies/registry.h"

namespace memstrat::cli {

namespace {
std::vector<char*> command_line;
constexpr const char* kMarker = "MEMSTRAT_PRELOADED";
}  // namespace

void remember_command_line(int argc, char** argv) { command_line.assign(argv, argv + argc); }

std::string command_line_text() {
  std::string text;
  for (const char* word : command_line) {
    if (!text.empty()) text += ' ';
    text += word;
  }
  return text;
}

void ensure_preloaded(const std::string& spec) {
  const std::string library = preload_library(spec);
  const char* marker = std::getenv(kMarker);
  if (library.empty()) return;
  if (marker != nullptr && library == marker) {
    // Loaded once and for all: whatever this process starts must not inherit it.
    ::unsetenv("LD_PRELOAD");
    ::unsetenv(kMarker);
    return;
  }
  if (command_line.empty()) throw std::logic_error("ensure_preloaded before remember_command_line");
  ::setenv("LD_PRELOAD", library.c_str(), 1);
  ::setenv(kMarker, library.c_str(), 1);
  std::fflush(nullptr);
  std::vector<char*> argv = command_line;
  argv.push_back(nullptr);
  ::execv("/proc/self/exe", argv.data());
  throw std::runtime_error("cannot restart memstrat with " + library + " preloaded: " + std::strerror(errno));
}

}  // namespace memstrat::cli
