#include "tests/support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace memstrat::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/memstrat-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot make a temporary directory");
  dir_ = pattern;
}

TempDir::~TempDir() {
  const std::string command = "rm -rf '" + dir_ + "'";
  if (std::system(command.c_str()) != 0) {
  }
}

static std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

CliResult run_cli(const std::string& args, const std::string& env) {
  TempDir dir;
  const std::string out = dir.path("out"), err = dir.path("err");
  const std::string command = (env.empty() ? "" : "env " + env + " ") + std::string(MEMSTRAT_CLI) + " " + args + " >" +
                              out + " 2>" + err + " </dev/null";
  const int status = std::system(command.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, slurp(out), slurp(err)};
}

CliResult run_program(const std::string& program, const std::string& args, const std::string& env) {
  TempDir dir;
  const std::string out = dir.path("out"), err = dir.path("err");
  const std::string command =
      (env.empty() ? "" : "env " + env + " ") + program + " " + args + " >" + out + " 2>" + err + " </dev/null";
  const int status = std::system(command.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, slurp(out), slurp(err)};
}

}  // namespace memstrat::test

namespace memstrat {

void* MallocAllocator::do_allocate(const AllocRequest& request) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t size = (request.bytes + request.align - 1) / request.align * request.align;
  return std::aligned_alloc(request.align, size);
}

void MallocAllocator::do_deallocate(void* pointer, const AllocRequest&) noexcept { std::free(pointer); }

}  // namespace memstrat
