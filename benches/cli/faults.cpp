#include "benches/cli/faults.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace memstrat::cli {

namespace {

// Whether MEMSTRAT_FAULT_ONCE leaves the fault to this run: decided once per process.
bool fault_is_ours() {
  static const bool ours = [] {
    const char* once = std::getenv("MEMSTRAT_FAULT_ONCE");
    if (once == nullptr || *once == '\0') return true;
    const int fd = ::open(once, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return false;  // an earlier run took it
    ::close(fd);
    return true;
  }();
  return ours;
}

// One child per usable CPU, pinned to it, spinning until this process ends.
void start_busy_processes() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return;
  const pid_t parent = ::getpid();
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    const pid_t pid = ::fork();
    if (pid != 0) continue;
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(0);  // the run ended before the signal was armed
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    ::sched_setaffinity(0, sizeof one, &one);
    volatile unsigned long spin = 0;
    for (;;) spin = spin + 1;
  }
}

}  // namespace

std::optional<Fault> requested_fault() {
  const char* text = std::getenv("MEMSTRAT_FAULT");
  if (text == nullptr || *text == '\0') return std::nullopt;
  // Under mpirun, MEMSTRAT_FAULT_RANK=R keeps the fault to rank R (Open MPI names each
  // rank in OMPI_COMM_WORLD_RANK).
  if (const char* only = std::getenv("MEMSTRAT_FAULT_RANK"); only != nullptr && *only != '\0') {
    const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
    if (rank == nullptr || std::string(rank) != only) return std::nullopt;
  }
  const std::string spec = text;
  const auto bad = [&] {
    return std::invalid_argument(
        "MEMSTRAT_FAULT='" + spec +
        "' is not a fault: write KIND@N, KIND one of segv, kill, hang, exit, busy (N: the step) "
        "or alloc (N: the request), N from 1");
  };
  const auto at = spec.find('@');
  if (at == std::string::npos) throw bad();
  static const std::pair<const char*, FaultKind> kinds[] = {{"segv", FaultKind::segv},   {"kill", FaultKind::kill},
                                                            {"hang", FaultKind::hang},   {"exit", FaultKind::exit},
                                                            {"alloc", FaultKind::alloc}, {"busy", FaultKind::busy}};
  Fault fault;
  const auto kind = std::find_if(std::begin(kinds), std::end(kinds), [&](const auto& k) {
    return spec.compare(0, at, k.first) == 0 && std::strlen(k.first) == at;
  });
  if (kind == std::end(kinds)) throw bad();
  fault.kind = kind->second;
  const std::string number = spec.substr(at + 1);
  if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos) throw bad();
  errno = 0;
  fault.at = std::strtoull(number.c_str(), nullptr, 10);
  if (errno != 0 || fault.at == 0) throw bad();
  if (!fault_is_ours()) return std::nullopt;
  return fault;
}

void arm_allocation_fault(Allocator& allocator) {
  const auto fault = requested_fault();
  if (fault && fault->kind == FaultKind::alloc) allocator.fail_nth_allocation(fault->at);
}

void inject_step_fault(int step) {
  const auto fault = requested_fault();
  if (!fault || fault->kind == FaultKind::alloc || fault->at != std::uint64_t(step)) return;
  // The default action, not a handler's (AddressSanitizer installs one): the process dies by the signal.
  if (fault->kind == FaultKind::segv) std::signal(SIGSEGV, SIG_DFL), std::raise(SIGSEGV);
  if (fault->kind == FaultKind::kill) std::raise(SIGKILL);
  if (fault->kind == FaultKind::exit) throw std::runtime_error("injected failure at step " + std::to_string(step));
  if (fault->kind == FaultKind::busy) start_busy_processes();
  if (fault->kind == FaultKind::hang)
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

}  // namespace memstrat::cli
