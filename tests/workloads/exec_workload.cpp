// A workload for the tests of `memstrat exec` (tests/test_exec.cpp): a program that
// is not memstrat, allocating through plain malloc, marking its steps by the
// protocol (MEMSTRAT_STEP_FD), and failing in each of the ways exec must record.
//
//   exec-workload steps N MIB [shrink] [nomarks] [badmark]
//       N steps; step i allocates MIB MiB (MIB x (N-i) with shrink: a
//       later step's peak below an earlier one's shows each was reset), writes every
//       page, frees it; marks each step unless nomarks.
//   exec-workload exit CODE         says why on stderr, exits with CODE
//   exec-workload signal            dies by SIGSEGV
//   exec-workload sleep SECONDS
//   exec-workload hog MIB           holds MIB MiB, written, for a second
//   exec-workload fork MIB          a child process holds MIB MiB while the parent marks a step
//   exec-workload churn N CALLS     for `exec --capture`: a setup of 8 blocks of 256 KiB kept,
//       then N marked steps, each taking 4 MiB (written), CALLS blocks of 48 bytes
//       taken and freed, and one of 1000 bytes freed by the next step (as a framework's
//       loss outlives its step); the 4 MiB freed before the step's end mark
//
// Built three ways (CMakeLists.txt): dynamic, static, and with AddressSanitizer.
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int mark_fd = -1;

void mark(const char* kind, int index) {
  if (mark_fd < 0) return;
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  char line[96];
  const int n = std::snprintf(line, sizeof line, "%s %d %lld\n", kind, index,
                              (long long)t.tv_sec * 1000000000ll + (long long)t.tv_nsec);
  if (write(mark_fd, line, std::size_t(n)) != n) mark_fd = -1;
}

// MIB MiB from malloc, every page written: resident until freed.
char* hold(long mib) {
  const std::size_t bytes = std::size_t(mib > 0 ? mib : 1) << 20;
  auto* p = static_cast<char*>(std::malloc(bytes));
  if (p == nullptr) {
    std::fprintf(stderr, "exec-workload: out of memory\n");
    std::exit(1);
  }
  for (std::size_t i = 0; i < bytes; i += 4096) p[i] = char(i);
  return p;
}

void pause_ms(long ms) {
  timespec t{ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&t, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* fd = std::getenv("MEMSTRAT_STEP_FD")) mark_fd = std::atoi(fd);
  const std::string what = argc > 1 ? argv[1] : "";
  auto has = [&](const char* word) {
    for (int i = 2; i < argc; ++i)
      if (std::strcmp(argv[i], word) == 0) return true;
    return false;
  };
  const long a = argc > 2 ? std::atol(argv[2]) : 0, b = argc > 3 ? std::atol(argv[3]) : 0;
  if (what == "steps") {
    if (has("nomarks")) mark_fd = -1;
    if (has("badmark") && mark_fd >= 0 && write(mark_fd, "bogus\n", 6) != 6) return 1;
    for (int i = 0; i < a; ++i) {
      mark("begin", i);
      char* p = hold(has("shrink") ? b * (a - i) : b);
      pause_ms(20);
      std::free(p);
      mark("end", i);
    }
    std::printf("trained %ld steps\n", a);
    return 0;
  }
  if (what == "churn") {
    static char* model[8];
    for (auto*& block : model) block = static_cast<char*>(std::malloc(256 << 10));
    static char* small[1 << 16];
    const long calls = b < long(sizeof small / sizeof *small) ? b : long(sizeof small / sizeof *small);
    char* carried = nullptr;
    for (int i = 0; i < a; ++i) {
      mark("begin", i);
      std::free(carried);
      char* p = hold(4);
      for (long k = 0; k < calls; ++k) small[k] = static_cast<char*>(std::malloc(48)), small[k][0] = char(k);
      for (long k = 0; k < calls; ++k) std::free(small[k]);
      carried = static_cast<char*>(std::malloc(1000));
      carried[0] = 1;
      std::free(p);
      mark("end", i);
    }
    std::free(carried);
    for (auto* block : model) std::free(block);
    std::printf("churned %ld steps\n", a);
    return 0;
  }
  if (what == "exit") {
    std::fprintf(stderr, "exec-workload: failing on purpose\n");
    return int(a);
  }
  if (what == "signal") {
    std::signal(SIGSEGV, SIG_DFL);  // the default action, whatever a runtime installed
    std::raise(SIGSEGV);
    return 0;
  }
  if (what == "sleep") {
    pause_ms(a * 1000);
    return 0;
  }
  if (what == "hog") {
    char* p = hold(a);
    pause_ms(1000);
    std::free(p);
    return 0;
  }
  if (what == "fork") {
    mark("begin", 0);
    const pid_t child = fork();
    if (child == 0) {
      char* p = hold(a);
      pause_ms(300);
      std::free(p);
      _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    mark("end", 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }
  std::fprintf(stderr, "exec-workload: unknown mode '%s'\n", what.c_str());
  return 2;
}
