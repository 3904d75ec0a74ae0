// Shared by the tests: temporary files, running the CLI, a plain allocator, and
// a plain dataset reader.
#pragma once

#include <omp.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/allocator.h"
#include "kernels/data.h"
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

// Sets the OpenMP thread count, and restores it on scope exit.
struct Threads {
  explicit Threads(int n) : old(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(old); }
  int old;
};

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

// The oracle the --data-mode sources (open_batch_source) are held to: reads each
// batch from the file when asked (pread), holding nothing but the labels. Throws
// DataError, with read_dataset_info's messages for a bad file.
class FileBatchSource final : public BatchSource {
 public:
  explicit FileBatchSource(const std::string& path);
  ~FileBatchSource() override;
  FileBatchSource(const FileBatchSource&) = delete;
  FileBatchSource& operator=(const FileBatchSource&) = delete;
  const DatasetInfo& info() const override { return info_; }
  void read(std::uint64_t first, int count, float* x, std::int32_t* labels) override;

 private:
  void read_all(void* data, std::size_t bytes, std::uint64_t offset) const;

  std::string path_;
  int fd_ = -1;
  DatasetInfo info_;
  DatasetLayout layout_;
  std::vector<std::int32_t> labels_;
};

}  // namespace memstrat
