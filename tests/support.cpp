#include "tests/support.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
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

FileBatchSource::FileBatchSource(const std::string& path) : path_(path), info_(read_dataset_info(path)) {
  layout_ = dataset_layout(info_);
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw DataError("cannot open dataset '" + path + "': " + std::strerror(errno));
  try {
    labels_.resize(info_.samples);
    read_all(labels_.data(), labels_.size() * sizeof(std::int32_t), layout_.labels_offset);
    for (std::int32_t label : labels_)
      if (label < 0 || label >= info_.classes) throw DataError("dataset '" + path + "' has a label out of range");
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

FileBatchSource::~FileBatchSource() { ::close(fd_); }

void FileBatchSource::read(std::uint64_t first, int count, float* x, std::int32_t* labels) {
  for (int done = 0; done < count;) {
    const std::uint64_t index = (first + std::uint64_t(done)) % info_.samples;
    const int run = int(std::min<std::uint64_t>(std::uint64_t(count - done), info_.samples - index));
    read_all(x + std::size_t(done) * info_.sample_floats(), std::size_t(run) * info_.sample_bytes(),
             layout_.samples_offset + index * info_.sample_bytes());
    std::memcpy(labels + done, labels_.data() + index, std::size_t(run) * sizeof(std::int32_t));
    done += run;
  }
}

void FileBatchSource::read_all(void* data, std::size_t bytes, std::uint64_t offset) const {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd_, p, bytes, off_t(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw DataError("cannot read dataset '" + path_ + "': " + std::strerror(errno));
    if (n == 0) throw DataError("dataset '" + path_ + "' is truncated");
    p += n, bytes -= std::size_t(n), offset += std::uint64_t(n);
  }
}

}  // namespace memstrat
