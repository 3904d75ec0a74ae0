// memstrat's probe: a small shared library that `memstrat exec` preloads into the
// command it measures, beside the allocator under test (LD_PRELOAD="ALLOC probe").
// It reads, from inside the command, what only the command's own process can see:
// which library serves malloc (the proof that the allocator under test is the one
// in use), the allocator's own statistics, and the process's peak RSS, at every
// step the workload marks and at exit. It writes them as JSON lines to the file
// named by MEMSTRAT_PROBE_OUT, one line per event, each in a single write.
//
// Step marks (the protocol, see README "Your own workload"): a workload that wants
// per-step figures writes "begin I [T]\n" as step I begins and "end I [T]\n" as it
// ends to the file descriptor named by MEMSTRAT_STEP_FD (T: optional
// CLOCK_MONOTONIC nanoseconds; without it the probe's reading time is used). The
// other end of that pipe is MEMSTRAT_PROBE_STEP_RFD, read by a thread of the probe
// in the process memstrat started (the process-group leader, or what it exec'd
// into). At a begin it folds the peak so far into the run's peak and resets VmHWM
// (/proc/self/clear_refs <- 5); at an end it reads VmHWM (the step's peak) and the
// allocator's view. Processes the command starts carry the probe too (LD_PRELOAD is
// inherited) and report their own start and peak at exit.
//
// Kept free of the C++ runtime's allocations on its paths: it runs inside a
// process whose allocator it measures.
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

int out_fd = -1;
int step_fd = -1;
bool leader = false;
pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
// The highest VmHWM read before each reset: the run's peak is the larger of it and the last reading.
unsigned long long peak_before_resets = 0;

unsigned long long now_ns() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

// VmHWM and VmRSS of this process in bytes, from /proc/self/status (0 when unreadable).
void read_memory(unsigned long long* hwm, unsigned long long* rss) {
  *hwm = *rss = 0;
  const int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char text[4096];
  const ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return;
  text[n] = '\0';
  for (const char* line = text; line != nullptr && *line != '\0';) {
    if (std::strncmp(line, "VmHWM:", 6) == 0) *hwm = std::strtoull(line + 6, nullptr, 10) * 1024;
    if (std::strncmp(line, "VmRSS:", 6) == 0) *rss = std::strtoull(line + 6, nullptr, 10) * 1024;
    line = std::strchr(line, '\n');
    if (line != nullptr) ++line;
  }
}

void reset_peak() {
  const int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, "5", 1) != 1) {
  }
  close(fd);
}

// The allocator's own view: what it holds from the OS and what of that is handed
// out (-1 where it does not say), found by the functions the process offers.
struct View {
  const char* source = "none";
  long long reserved = -1, allocated = -1;
};

View read_view() {
  View v;
  using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  using MiProcessInfo = void (*)(std::size_t*, std::size_t*, std::size_t*, std::size_t*, std::size_t*, std::size_t*,
                                 std::size_t*, std::size_t*);
  using GetProperty = int (*)(const char*, std::size_t*);
  if (auto mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"))) {
    std::uint64_t epoch = 1;
    std::size_t length = sizeof epoch;
    mallctl("epoch", &epoch, &length, &epoch, length);  // refreshes jemalloc's cached statistics
    std::size_t value = 0;
    length = sizeof value;
    v.source = "jemalloc stats.resident/stats.allocated";
    if (mallctl("stats.resident", &value, &length, nullptr, 0) == 0) v.reserved = (long long)value;
    length = sizeof value;
    if (mallctl("stats.allocated", &value, &length, nullptr, 0) == 0) v.allocated = (long long)value;
  } else if (auto info = reinterpret_cast<MiProcessInfo>(dlsym(RTLD_DEFAULT, "mi_process_info"))) {
    std::size_t elapsed, user, sys, rss, peak_rss, commit = 0, peak_commit, faults;
    info(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
    v.source = "mimalloc mi_process_info (commit; no allocated count)";
    v.reserved = (long long)commit;
  } else if (auto get = reinterpret_cast<GetProperty>(dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"))) {
    std::size_t heap = 0, unmapped = 0, allocated = 0;
    v.source = "tcmalloc generic.heap_size - pageheap_unmapped_bytes, generic.current_allocated_bytes";
    if (get("generic.heap_size", &heap) != 0) {
      get("tcmalloc.pageheap_unmapped_bytes", &unmapped);
      v.reserved = (long long)(heap - unmapped);
    }
    if (get("generic.current_allocated_bytes", &allocated) != 0) v.allocated = (long long)allocated;
  } else {
    // glibc's mallinfo2 (any other preloaded library without these interfaces answers
    // glibc's empty heap here: the exec record then says which library served malloc).
    const struct mallinfo2 m = mallinfo2();
    v.source = "glibc mallinfo2 (arena + hblkhd, uordblks + hblkhd)";
    v.reserved = (long long)m.arena + (long long)m.hblkhd;
    v.allocated = (long long)m.uordblks + (long long)m.hblkhd;
  }
  return v;
}

// One JSON line, written whole. Strings put in through %s must not need escaping
// (paths are written with escape_into).
void emit(const char* format, ...) {
  if (out_fd < 0) return;
  char line[8192];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(line, sizeof line - 1, format, args);
  va_end(args);
  if (n <= 0 || n >= int(sizeof line) - 1) return;
  line[n] = '\n';
  pthread_mutex_lock(&write_lock);
  if (write(out_fd, line, std::size_t(n) + 1) < 0) {
  }
  pthread_mutex_unlock(&write_lock);
}

// `text` as the inside of a JSON string.
void escape_into(char* out, std::size_t size, const char* text) {
  std::size_t j = 0;
  for (const char* c = text; *c != '\0' && j + 7 < size; ++c) {
    const unsigned char u = (unsigned char)*c;
    if (u == '"' || u == '\\') {
      out[j++] = '\\', out[j++] = char(u);
    } else if (u < 0x20) {
      j += std::size_t(std::snprintf(out + j, size - j, "\\u%04x", u));
    } else {
      out[j++] = char(u);
    }
  }
  out[j] = '\0';
}

// The allocator's view at its highest demand the reading thread saw (it looks every
// 5 ms), over the current step and over the whole run: highest allocated bytes where
// the allocator counts them, else highest reserved, else highest RSS. (At the highest
// RSS would be wrong for a caching allocator: its RSS stays up after a free.)
struct PeakView {
  unsigned long long rss = 0;  // at that moment; 0: not sampled yet
  View view;
};
PeakView step_view, run_view;

long long demand(const View& v, unsigned long long rss) {
  return v.allocated >= 0 ? v.allocated : v.reserved >= 0 ? v.reserved : (long long)rss;
}

void sample_view() {
  unsigned long long hwm = 0, rss = 0;
  read_memory(&hwm, &rss);
  const View v = read_view();
  const long long d = demand(v, rss);
  pthread_mutex_lock(&write_lock);
  if (step_view.rss == 0 || d > demand(step_view.view, step_view.rss)) step_view = {rss, v};
  if (run_view.rss == 0 || d > demand(run_view.view, run_view.rss)) run_view = {rss, v};
  pthread_mutex_unlock(&write_lock);
}

void emit_memory(const char* event, long index, unsigned long long t_ns, const PeakView& at_peak) {
  unsigned long long hwm = 0, rss = 0;
  read_memory(&hwm, &rss);
  const View v = read_view();
  pthread_mutex_lock(&write_lock);
  const PeakView p = at_peak;
  pthread_mutex_unlock(&write_lock);
  emit(
      "{\"event\":\"%s\",\"pid\":%d,\"index\":%ld,\"t_ns\":%llu,\"hwm\":%llu,\"peak\":%llu,\"rss\":%llu,"
      "\"reserved\":%lld,\"allocated\":%lld,\"view\":\"%s\",\"peak_view_rss\":%llu,\"peak_reserved\":%lld,"
      "\"peak_allocated\":%lld}",
      event, int(getpid()), index, t_ns, hwm, hwm > peak_before_resets ? hwm : peak_before_resets, rss, v.reserved,
      v.allocated, v.source, p.rss, p.rss > 0 ? p.view.reserved : -1, p.rss > 0 ? p.view.allocated : -1);
}

// The step marks read so far and not yet a whole line; marks_lock is held while
// marks are read and handled, by the reading thread and by the exit handler.
char marks[4096];
std::size_t marks_held = 0;
pthread_mutex_t marks_lock = PTHREAD_MUTEX_INITIALIZER;

void handle_mark(char* line, unsigned long long t_read) {
  char kind[16] = {0};
  long index = -1;
  unsigned long long t_mark = 0;
  const int fields = std::sscanf(line, "%15s %ld %llu", kind, &index, &t_mark);
  const unsigned long long t = fields >= 3 && t_mark > 0 ? t_mark : t_read;
  if (fields >= 2 && std::strcmp(kind, "begin") == 0) {
    unsigned long long hwm = 0, rss = 0;
    read_memory(&hwm, &rss);
    if (hwm > peak_before_resets) peak_before_resets = hwm;
    reset_peak();
    pthread_mutex_lock(&write_lock);
    step_view = PeakView{};
    pthread_mutex_unlock(&write_lock);
    // hwm: the peak since the previous begin (the step before and the gap after it).
    emit("{\"event\":\"begin\",\"pid\":%d,\"index\":%ld,\"t_ns\":%llu,\"rss\":%llu,\"hwm\":%llu}", int(getpid()), index,
         t, rss, hwm);
  } else if (fields >= 2 && std::strcmp(kind, "end") == 0) {
    sample_view();
    emit_memory("end", index, t, step_view);
  } else {
    char text[256];
    escape_into(text, sizeof text, line);
    emit("{\"event\":\"bad_mark\",\"pid\":%d,\"t_ns\":%llu,\"text\":\"%s\"}", int(getpid()), t_read, text);
  }
}

// One read from the marks pipe, every whole line in it handled; returns what read
// returned. Called with marks_lock held.
ssize_t read_marks() {
  const ssize_t n = read(step_fd, marks + marks_held, sizeof marks - 1 - marks_held);
  if (n <= 0) return n;
  const unsigned long long t_read = now_ns();
  marks_held += std::size_t(n);
  marks[marks_held] = '\0';
  char* start = marks;
  for (char* end; (end = std::strchr(start, '\n')) != nullptr; start = end + 1) {
    *end = '\0';
    handle_mark(start, t_read);
  }
  marks_held = std::size_t(marks + marks_held - start);
  std::memmove(marks, start, marks_held);
  if (marks_held >= sizeof marks - 1) marks_held = 0;  // a line longer than the buffer is dropped
  return n;
}

// Reads the workload's step marks until the pipe closes, and samples the allocator's
// view between them.
void* read_steps(void*) {
  for (;;) {
    pollfd wait{step_fd, POLLIN, 0};
    const int ready = poll(&wait, 1, 5);
    sample_view();
    if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
    pthread_mutex_lock(&marks_lock);
    const ssize_t n = ready < 0 || step_fd < 0 ? -1 : read_marks();
    pthread_mutex_unlock(&marks_lock);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  for (;;) {  // no more marks: the run's view is still sampled
    poll(nullptr, 0, 5);
    sample_view();
  }
}

// The shared object whose malloc this process calls. dlsym(RTLD_DEFAULT) is not the
// answer for a program linked without -fPIE (Debian's python3): its malloc is a PLT
// stub that the program itself appears to define. So: the program when it defines
// malloc for real; else the first object in load order (the preloaded ones come first)
// whose lookup scope defines it.
struct Search {
  char found[PATH_MAX];
  int index;
};

// memstrat's capture library (capture.cpp) defines malloc to record each call and
// hands it on: the allocator behind it is the one that serves.
bool is_capture_library(const char* path) {
  void* handle = dlopen(path, RTLD_NOLOAD | RTLD_LAZY);
  if (handle == nullptr) return false;
  const bool marked = dlsym(handle, "memstrat_capture_library") != nullptr;
  dlclose(handle);
  return marked;
}

int first_definer(struct dl_phdr_info* info, std::size_t, void* data) {
  auto* search = static_cast<Search*>(data);
  if (search->index++ == 0 || info->dlpi_name == nullptr || info->dlpi_name[0] == '\0') return 0;  // the program
  if (is_capture_library(info->dlpi_name)) return 0;
  void* handle = dlopen(info->dlpi_name, RTLD_NOLOAD | RTLD_LAZY);
  if (handle == nullptr) return 0;
  void* symbol = dlsym(handle, "malloc");
  Dl_info where{};
  const bool found = symbol != nullptr && dladdr(symbol, &where) != 0 && where.dli_fname != nullptr;
  if (found) std::snprintf(search->found, sizeof search->found, "%s", where.dli_fname);
  dlclose(handle);
  return found ? 1 : 0;
}

void malloc_provider(char* out, std::size_t size) {
  Search search{};
  std::strcpy(search.found, "(unknown)");
  void* symbol = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info{};
  void* entry_pointer = nullptr;
  const bool known = symbol != nullptr && dladdr1(symbol, &info, &entry_pointer, RTLD_DL_SYMENT) != 0;
  const auto* entry = static_cast<const ElfW(Sym)*>(entry_pointer);
  const bool captured =
      known && info.dli_fname != nullptr && info.dli_fname[0] != '\0' && is_capture_library(info.dli_fname);
  if (!captured && known && entry != nullptr && entry->st_shndx != SHN_UNDEF && info.dli_sname != nullptr &&
      std::strcmp(info.dli_sname, "malloc") == 0) {
    const bool program = info.dli_fname == nullptr || info.dli_fname[0] == '\0';
    std::snprintf(search.found, sizeof search.found, "%s", program ? "/proc/self/exe" : info.dli_fname);
  } else if (known) {
    dl_iterate_phdr(first_definer, &search);
  }
  char resolved[PATH_MAX];
  escape_into(out, size, realpath(search.found, resolved) != nullptr ? resolved : search.found);
}

__attribute__((constructor)) void probe_start() {
  const char* out = std::getenv("MEMSTRAT_PROBE_OUT");
  if (out == nullptr || *out == '\0') return;
  out_fd = open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (out_fd < 0) return;
  leader = getpid() == getpgid(0);
  char provider[PATH_MAX * 2];
  malloc_provider(provider, sizeof provider);
  char exe[PATH_MAX] = {0}, exe_text[PATH_MAX * 2];
  if (readlink("/proc/self/exe", exe, sizeof exe - 1) < 0) std::strcpy(exe, "(unknown)");
  escape_into(exe_text, sizeof exe_text, exe);
  emit(
      "{\"event\":\"start\",\"pid\":%d,\"ppid\":%d,\"leader\":%s,\"t_ns\":%llu,\"malloc_from\":\"%s\","
      "\"exe\":\"%s\"}",
      int(getpid()), int(getppid()), leader ? "true" : "false", now_ns(), provider, exe_text);
  const char* rfd = std::getenv("MEMSTRAT_PROBE_STEP_RFD");
  if (rfd == nullptr) return;
  const int fd = std::atoi(rfd);
  if (!leader) {
    // Only the process memstrat started reads the marks; a child must not take them.
    if (fd > 2) close(fd);
    return;
  }
  if (fd <= 2 || fcntl(fd, F_GETFD) < 0) return;
  step_fd = fd;
  pthread_t thread;
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attributes, 64 * 1024);
  if (pthread_create(&thread, &attributes, read_steps, nullptr) != 0) step_fd = -1;
  pthread_attr_destroy(&attributes);
}

__attribute__((destructor)) void probe_exit() {
  if (out_fd < 0) return;
  if (step_fd >= 0) {  // marks written just before exit that the thread has not read yet
    pthread_mutex_lock(&marks_lock);
    fcntl(step_fd, F_SETFL, fcntl(step_fd, F_GETFL) | O_NONBLOCK);
    while (read_marks() > 0) {
    }
    step_fd = -1;
    pthread_mutex_unlock(&marks_lock);
  }
  emit_memory("exit", -1, now_ns(), run_view);
}

}  // namespace
