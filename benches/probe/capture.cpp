// memstrat's capture library: records the allocation stream of the command that
// `memstrat exec --capture` measures, for `memstrat trace replay` to play through every
// strategy. It is the probe's other half: the probe (probe.cpp) reads the allocator's
// statistics and the step marks, this one sees every call of the malloc family.
//
// Placed first in LD_PRELOAD ("capture ALLOC probe"), it defines malloc, calloc,
// realloc, free, posix_memalign, aligned_alloc, memalign, valloc and pvalloc, notes
// each call and forwards it to the next definition in load order (dlsym RTLD_NEXT:
// the allocator under test, or the C library's). While those are being looked up,
// dlsym's own requests are served from a small static buffer.
//
// What it writes to MEMSTRAT_CAPTURE_OUT: 32-byte records (Record below), in the order
// the calls were served (one lock orders them), each with its CLOCK_MONOTONIC time,
// so that the step marks (which carry the same clock) place them in their steps. A
// realloc is a free of the old block and an allocation of the new one. The last record
// is the trailer: the number of records before it, and whether the capture stopped
// early. Only the process memstrat started (the process-group leader) records; a child
// it forks stops recording at once, and a program it starts finds itself no leader.
//
// Bounded: MEMSTRAT_CAPTURE_LIMIT bytes at most (a size the capture stops at). A
// write that fails (the disk is full) or would pass the limit stops the capture; the
// calls go on being served and the trailer says "incomplete" with the reason's errno
// (EFBIG for the limit). A file without a trailer (the process was killed) is
// incomplete too.
//
// Kept free of the C++ runtime and of any allocation on its paths.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

// One call, as written (the layout memstrat reads: benches/cli/capture.cpp).
struct Record {
  std::uint64_t t_ns;     // CLOCK_MONOTONIC
  std::uint64_t pointer;  // the block handed out or freed
  std::uint64_t size;     // bytes asked for; trailer: records before it
  std::uint32_t thread;   // 1, 2, ... in the order threads first called
  std::uint8_t op;        // Op
  std::uint8_t align_log2;
  std::uint16_t error;  // trailer: 0 complete, else the errno that stopped the capture
};
static_assert(sizeof(Record) == 32, "the file format is 32-byte records");

enum Op : std::uint8_t {
  op_malloc = 1,
  op_calloc,
  op_realloc,  // the new block of a realloc
  op_posix_memalign,
  op_aligned_alloc,
  op_memalign,
  op_valloc,
  op_pvalloc,
  op_free,
  op_realloc_free,  // the old block of a realloc that moved or shrank to nothing
  op_trailer = 255,
};

using Malloc = void* (*)(std::size_t);
using Calloc = void* (*)(std::size_t, std::size_t);
using Realloc = void* (*)(void*, std::size_t);
using Free = void (*)(void*);
using PosixMemalign = int (*)(void**, std::size_t, std::size_t);
using AlignedAlloc = void* (*)(std::size_t, std::size_t);
using Valloc = void* (*)(std::size_t);

struct Next {
  Malloc malloc;
  Calloc calloc;
  Realloc realloc;
  Free free;
  PosixMemalign posix_memalign;
  AlignedAlloc aligned_alloc, memalign;
  Valloc valloc, pvalloc;
};
Next next{};
std::atomic<int> resolved{0};  // 0 not yet, 1 in progress, 2 done
__thread bool resolving __attribute__((tls_model("initial-exec"))) = false;

// dlsym's own allocations while the next definitions are looked up.
alignas(64) unsigned char bootstrap[64 * 1024];
std::size_t bootstrap_used = 0;
bool from_bootstrap(const void* p) {
  return p >= static_cast<const void*>(bootstrap) && p < static_cast<const void*>(bootstrap + sizeof bootstrap);
}
void* bootstrap_alloc(std::size_t size) {
  const std::size_t at = (bootstrap_used + 63) & ~std::size_t(63);
  if (size > sizeof bootstrap - at) return nullptr;
  bootstrap_used = at + size;
  return bootstrap + at;  // zeroed: static storage, never reused
}

void resolve() {
  int expected = 0;
  if (!resolved.compare_exchange_strong(expected, 1)) {
    while (resolved.load() != 2) {  // another thread is looking them up
    }
    return;
  }
  resolving = true;
  next.malloc = reinterpret_cast<Malloc>(dlsym(RTLD_NEXT, "malloc"));
  next.calloc = reinterpret_cast<Calloc>(dlsym(RTLD_NEXT, "calloc"));
  next.realloc = reinterpret_cast<Realloc>(dlsym(RTLD_NEXT, "realloc"));
  next.free = reinterpret_cast<Free>(dlsym(RTLD_NEXT, "free"));
  next.posix_memalign = reinterpret_cast<PosixMemalign>(dlsym(RTLD_NEXT, "posix_memalign"));
  next.aligned_alloc = reinterpret_cast<AlignedAlloc>(dlsym(RTLD_NEXT, "aligned_alloc"));
  next.memalign = reinterpret_cast<AlignedAlloc>(dlsym(RTLD_NEXT, "memalign"));
  next.valloc = reinterpret_cast<Valloc>(dlsym(RTLD_NEXT, "valloc"));
  next.pvalloc = reinterpret_cast<Valloc>(dlsym(RTLD_NEXT, "pvalloc"));
  resolving = false;
  resolved.store(2);
}

// Whether the next definitions can be called; false only inside resolve() on its thread.
bool ready() {
  if (resolved.load(std::memory_order_acquire) == 2) return true;
  if (resolving) return false;
  resolve();
  return true;
}

// The capture's state, under `lock`.
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
int out_fd = -1;
bool recording = false;
std::uint16_t stop_error = 0;
std::uint64_t written_bytes = 0, limit_bytes = 0;
constexpr std::size_t kBuffered = 32768;  // 1 MiB of records
Record buffer[kBuffered];
std::size_t buffered = 0;
std::atomic<std::uint32_t> threads{0};
__thread std::uint32_t thread_number __attribute__((tls_model("initial-exec"))) = 0;

// Writes what is buffered; on failure stops the capture. Called with `lock` held.
void flush() {
  const std::size_t bytes = buffered * sizeof(Record);
  buffered = 0;
  if (bytes == 0 || out_fd < 0) return;
  if (limit_bytes > 0 && written_bytes + bytes + sizeof(Record) > limit_bytes) {
    recording = false, stop_error = EFBIG;  // the trailer still fits
    return;
  }
  const auto* at = reinterpret_cast<const unsigned char*>(buffer);
  for (std::size_t left = bytes; left > 0;) {
    const ssize_t n = write(out_fd, at, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      recording = false, stop_error = std::uint16_t(n < 0 ? errno : ENOSPC);
      return;
    }
    at += n, left -= std::size_t(n), written_bytes += std::uint64_t(n);
  }
}

void note(Op op, const void* pointer, std::size_t size, std::size_t align) {
  if (!recording || pointer == nullptr) return;
  if (thread_number == 0) thread_number = threads.fetch_add(1) + 1;
  timespec t{};
  std::uint8_t log2 = 0;
  while ((std::size_t(1) << log2) < align && log2 < 63) ++log2;
  pthread_mutex_lock(&lock);
  if (recording) {
    clock_gettime(CLOCK_MONOTONIC, &t);  // under the lock: times in the records' order
    buffer[buffered++] = {std::uint64_t(t.tv_sec) * 1000000000ull + std::uint64_t(t.tv_nsec),
                          reinterpret_cast<std::uint64_t>(pointer),
                          size,
                          thread_number,
                          op,
                          log2,
                          0};
    if (buffered == kBuffered) flush();
  }
  pthread_mutex_unlock(&lock);
}

// A forked child must not write the parent's records, nor its own, to the parent's file.
void stop_in_child() {
  recording = false, buffered = 0, out_fd = -1;
  pthread_mutex_init(&lock, nullptr);
}

__attribute__((constructor)) void capture_start() {
  const char* out = std::getenv("MEMSTRAT_CAPTURE_OUT");
  if (out == nullptr || *out == '\0' || getpid() != getpgid(0)) return;
  if (const char* limit = std::getenv("MEMSTRAT_CAPTURE_LIMIT")) limit_bytes = std::strtoull(limit, nullptr, 10);
  const int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;  // memstrat finds no file and says so
  pthread_atfork(nullptr, nullptr, stop_in_child);
  pthread_mutex_lock(&lock);
  out_fd = fd, recording = true;
  pthread_mutex_unlock(&lock);
}

__attribute__((destructor)) void capture_end() {
  pthread_mutex_lock(&lock);
  if (out_fd >= 0) {
    if (recording) flush();
    recording = false;
    // The records in the file: those a failed write dropped are not.
    const Record trailer{0, 0, written_bytes / sizeof(Record), 0, op_trailer, 0, stop_error};
    if (write(out_fd, &trailer, sizeof trailer) != ssize_t(sizeof trailer)) {
    }
    close(out_fd);
    out_fd = -1;
  }
  pthread_mutex_unlock(&lock);
}

}  // namespace

extern "C" {

// Its mark: the probe, looking for the library that serves malloc, looks behind this one.
__attribute__((visibility("default"))) int memstrat_capture_library = 1;

void* malloc(std::size_t size) {
  if (!ready()) return bootstrap_alloc(size);
  void* p = next.malloc(size);
  note(op_malloc, p, size, 16);
  return p;
}

void* calloc(std::size_t count, std::size_t size) {
  if (!ready()) return count != 0 && size > SIZE_MAX / count ? nullptr : bootstrap_alloc(count * size);
  void* p = next.calloc(count, size);
  note(op_calloc, p, count * size, 16);
  return p;
}

void free(void* p) {
  if (p == nullptr || from_bootstrap(p)) return;
  if (!ready()) return;  // cannot happen: nothing outside the bootstrap was handed out yet
  note(op_free, p, 0, 0);
  next.free(p);
}

void* realloc(void* old, std::size_t size) {
  if (from_bootstrap(old) || !ready()) {
    void* p = ready() ? malloc(size) : bootstrap_alloc(size);
    if (p != nullptr && old != nullptr) {
      const std::size_t room = std::size_t(bootstrap + sizeof bootstrap - static_cast<unsigned char*>(old));
      std::memcpy(p, old, size < room ? size : room);
    }
    return p;
  }
  // Noted before the call: once it returns, another thread may be handed the old block.
  if (old != nullptr) note(op_realloc_free, old, 0, 0);
  void* p = next.realloc(old, size);
  if (p != nullptr) {
    note(op_realloc, p, size, 16);
  } else if (old != nullptr && size != 0) {
    note(op_realloc, old, 0, 16);  // failed: the old block is still live (its size is not known here)
  }
  return p;
}

int posix_memalign(void** out, std::size_t align, std::size_t size) {
  if (!ready()) {
    *out = bootstrap_alloc(size);
    return *out != nullptr ? 0 : ENOMEM;
  }
  const int error = next.posix_memalign(out, align, size);
  if (error == 0) note(op_posix_memalign, *out, size, align);
  return error;
}

void* aligned_alloc(std::size_t align, std::size_t size) {
  if (!ready()) return bootstrap_alloc(size);
  void* p = next.aligned_alloc(align, size);
  note(op_aligned_alloc, p, size, align);
  return p;
}

void* memalign(std::size_t align, std::size_t size) {
  if (!ready()) return bootstrap_alloc(size);
  void* p = next.memalign(align, size);
  note(op_memalign, p, size, align);
  return p;
}

void* valloc(std::size_t size) {
  if (!ready()) return bootstrap_alloc(size);
  void* p = next.valloc(size);
  note(op_valloc, p, size, 4096);
  return p;
}

void* pvalloc(std::size_t size) {
  if (!ready()) return bootstrap_alloc(size);
  void* p = next.pvalloc(size);
  note(op_pvalloc, p, size, 4096);
  return p;
}

}  // extern "C"
