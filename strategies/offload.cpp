// `offload`: activations saved for backward leave RAM until backward reads
// them — "add swap", done on purpose and only for what waits for backward.
//
// pack() copies the fp32 values into a file-backed shared mapping of our own,
// writes them back (msync MS_SYNC) and drops the pages (MADV_PAGEOUT; where the
// kernel lacks it, MADV_DONTNEED, which on written-back pages of a shared
// mapping only unmaps them), then frees the values. unpack() takes an fp32
// buffer (kind temporary) and reads the values back with pread, which does not
// map the pages into the process again. The values come back bit for bit.
//
// The file: one per store (one per run), created on the first real pack in
// $TMPDIR or /tmp, unnamed from the start (O_TMPFILE) or, where the filesystem
// lacks that, unlinked right after mkstemp — so it goes away when the run ends,
// on error or crash too. It grows (ftruncate, blocks reserved with fallocate so
// a full disk is an error here, not a SIGBUS in memcpy) and the mapping follows
// (mremap). Regions are page-aligned and come from a first-fit free list of
// extents, coalesced on release; the training step is cyclic, so after the
// first step the file stays at the most bytes ever packed at once.
//
// A dry run makes the same allocator calls (none in pack, the fp32 buffer in
// unpack) and touches no file. The store may be destroyed while activations are
// still packed (an aborted step): the file closes with it, and what those
// activations hold becomes inert.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "kernels/tensor.h"
#include "strategies/factories.h"
#include "strategies/registry.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21  // Linux 5.4
#endif

namespace memstrat {

namespace {

std::string errno_text() { return std::strerror(errno); }

class OffloadFile {
 public:
  OffloadFile() : page_(std::uint64_t(::sysconf(_SC_PAGESIZE))) {
    const char* tmpdir = std::getenv("TMPDIR");
    const std::string dir = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0) {  // the filesystem has no unnamed files: name one and unlink it at once
      std::string path = dir + "/memstrat-offload-XXXXXX";
      fd_ = ::mkostemp(path.data(), O_CLOEXEC);
      if (fd_ < 0) throw std::runtime_error("offload: cannot create a file in '" + dir + "': " + errno_text());
      ::unlink(path.c_str());
    }
    dir_ = dir;
  }
  ~OffloadFile() {
    if (map_ != nullptr) ::munmap(map_, size_);
    ::close(fd_);
  }
  OffloadFile(const OffloadFile&) = delete;
  OffloadFile& operator=(const OffloadFile&) = delete;

  // Copies `bytes` into a region of the file and drops them from RAM, a chunk at a
  // time, so that no more than a chunk of the copy is resident at once on top of
  // the values it copies. Returns the region's offset.
  std::uint64_t put(const void* data, std::uint64_t bytes) {
    const std::uint64_t offset = take(round_up(bytes));
    try {
      for (std::uint64_t done = 0; done < bytes; done += kChunkBytes) {
        const std::uint64_t n = std::min(kChunkBytes, bytes - done);
        char* chunk = map_ + offset + done;
        std::memcpy(chunk, static_cast<const char*>(data) + done, n);
        drop(chunk, round_up(n));
      }
    } catch (...) {
      release(offset, bytes);
      throw;
    }
    return offset;
  }

  void get(void* out, std::uint64_t bytes, std::uint64_t offset) const {
    char* p = static_cast<char*>(out);
    while (bytes > 0) {
      const ssize_t n = ::pread(fd_, p, bytes, off_t(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw std::runtime_error(n < 0 ? failure("read back from")
                                       : "offload: the file in '" + dir_ + "' came up short");
      p += n, bytes -= std::uint64_t(n), offset += std::uint64_t(n);
    }
  }

  // Returns a region to the free list, merged with free neighbours.
  void release(std::uint64_t offset, std::uint64_t bytes) noexcept {
    std::uint64_t length = round_up(bytes);
    auto next = free_.lower_bound(offset);
    if (next != free_.end() && offset + length == next->first) {
      length += next->second;
      next = free_.erase(next);
    }
    if (next != free_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += length;
        return;
      }
    }
    free_.emplace(offset, length);
  }

 private:
  static constexpr std::uint64_t kChunkBytes = std::uint64_t(1) << 20;  // a multiple of any page size

  // Writes the pages back (the kernel does not reclaim dirty file pages on
  // request), then asks for them to be reclaimed.
  void drop(char* pages, std::uint64_t length) {
    if (::msync(pages, length, MS_SYNC) != 0) throw std::runtime_error(failure("write back to"));
    if (pageout_ && ::madvise(pages, length, MADV_PAGEOUT) != 0) {
      if (errno != EINVAL) throw std::runtime_error(failure("page out"));
      pageout_ = false;  // an older kernel: unmap the written-back pages instead
    }
    if (!pageout_ && ::madvise(pages, length, MADV_DONTNEED) != 0) throw std::runtime_error(failure("drop"));
  }

  std::uint64_t round_up(std::uint64_t bytes) const { return (bytes + page_ - 1) / page_ * page_; }

  std::string failure(const char* what) const {
    return std::string("offload: cannot ") + what + " the file in '" + dir_ + "': " + errno_text();
  }

  // First fit among the free extents; else at the end, growing the file.
  std::uint64_t take(std::uint64_t length) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second < length) continue;
      const std::uint64_t offset = it->first, rest = it->second - length;
      free_.erase(it);
      if (rest > 0) free_.emplace(offset + length, rest);
      return offset;
    }
    // A free extent at the very end is used and the file grows by the shortfall.
    std::uint64_t offset = size_;
    if (!free_.empty()) {
      const auto last = std::prev(free_.end());
      if (last->first + last->second == size_) offset = last->first;
    }
    grow(offset + length);
    if (offset < size_ && free_.count(offset) != 0) free_.erase(offset);
    if (offset + length < size_) release(offset + length, size_ - (offset + length));
    return offset;
  }

  // The file and the mapping to at least `needed` bytes, by half again at least:
  // few resizes in the first step, none after.
  void grow(std::uint64_t needed) {
    const std::uint64_t old_size = size_;
    std::uint64_t size = std::max(needed, old_size + old_size / 2);
    size = (size + (1u << 20) - 1) / (1u << 20) * (1u << 20);
    if (::ftruncate(fd_, off_t(size)) != 0) throw std::runtime_error(failure("grow"));
    // Reserve the blocks: writing through the mapping into a hole the disk cannot
    // fill would be a SIGBUS, not an error to report.
    // On failure the file goes back to its old size; the first error is the one reported.
    const auto undo = [&](const char* what) {
      const std::string message = failure(what);
      [[maybe_unused]] const int ignored = ::ftruncate(fd_, off_t(old_size));
      throw std::runtime_error(message);
    };
    if (::fallocate(fd_, 0, off_t(old_size), off_t(size - old_size)) != 0 && errno != EOPNOTSUPP && errno != ENOSYS)
      undo("grow");
    void* map = map_ == nullptr ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0)
                                : ::mremap(map_, old_size, size, MREMAP_MAYMOVE);
    if (map == MAP_FAILED) undo("map");
    map_ = static_cast<char*>(map);
    size_ = size;
  }

  std::uint64_t page_;
  std::string dir_;
  int fd_ = -1;
  char* map_ = nullptr;
  std::uint64_t size_ = 0;                       // of the file and of the mapping
  std::map<std::uint64_t, std::uint64_t> free_;  // offset -> bytes, page-aligned, never adjacent
  bool pageout_ = true;
};

// Where an activation's values wait. Hands its region back when dropped, if the file is still there.
struct OffloadPacked final : Packed {
  std::weak_ptr<OffloadFile> file;  // empty in a dry run
  std::uint64_t offset = 0, bytes = 0;
  ~OffloadPacked() override {
    if (auto f = file.lock()) f->release(offset, bytes);
  }
};

class OffloadStore final : public ActivationStore {
 public:
  const char* name() const override { return "offload"; }

  void pack(Allocator& /*allocator*/, Activation& act, bool dry_run) override {
    if (act.borrowed != nullptr || !act.values) return;
    auto packed = std::make_unique<OffloadPacked>();
    if (!dry_run) {
      if (!file_) file_ = std::make_shared<OffloadFile>();
      packed->bytes = act.values.bytes();
      packed->offset = file_->put(act.values.data(), packed->bytes);
      packed->file = file_;
    }
    act.values.reset();
    act.packed = std::move(packed);
  }

  void unpack(Allocator& allocator, Activation& act, bool dry_run) override {
    auto* packed = dynamic_cast<OffloadPacked*>(act.packed.get());
    MEMSTRAT_CHECK(packed != nullptr, "store 'offload' asked for an activation it did not keep");
    Buffer values(allocator, act.shape.numel() * sizeof(float), BufferKind::temporary, act.layer);
    if (!dry_run) {
      const auto file = packed->file.lock();
      MEMSTRAT_CHECK(file != nullptr && packed->bytes == values.bytes(), "store 'offload' lost an activation");
      file->get(values.data(), packed->bytes, packed->offset);
    }
    act.values = std::move(values);
    act.packed.reset();
  }

 private:
  std::shared_ptr<OffloadFile> file_;  // made on the first real pack
};

}  // namespace

void apply_offload(std::string_view option, TechniqueSet& set) {
  refuse_option("technique", "offload", option);
  if (set.store)
    throw SpecError("techniques '" + std::string(set.store->name()) +
                    "' and 'offload' cannot be combined: both decide how saved activations are kept");
  set.store = std::make_unique<OffloadStore>();
}

}  // namespace memstrat
