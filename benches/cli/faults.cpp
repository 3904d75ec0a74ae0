#include "benches/cli/faults.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace memstrat::cli {

std::optional<Fault> requested_fault() {
  const char* text = std::getenv("MEMSTRAT_FAULT");
  if (text == nullptr || *text == '\0') return std::nullopt;
  const std::string spec = text;
  const auto bad = [&] {
    return std::invalid_argument("MEMSTRAT_FAULT='" + spec +
                                 "' is not a fault: write KIND@N, KIND one of segv, kill, hang, exit (N: the step) "
                                 "or alloc (N: the request), N from 1");
  };
  const auto at = spec.find('@');
  if (at == std::string::npos) throw bad();
  Fault fault;
  fault.kind = spec.substr(0, at);
  if (fault.kind != "segv" && fault.kind != "kill" && fault.kind != "hang" && fault.kind != "exit" &&
      fault.kind != "alloc")
    throw bad();
  const std::string number = spec.substr(at + 1);
  if (number.empty() || number.find_first_not_of("0123456789") != std::string::npos) throw bad();
  errno = 0;
  fault.at = std::strtoull(number.c_str(), nullptr, 10);
  if (errno != 0 || fault.at == 0) throw bad();
  return fault;
}

void arm_allocation_fault(Allocator& allocator) {
  const auto fault = requested_fault();
  if (fault && fault->kind == "alloc") allocator.fail_nth_allocation(fault->at);
}

void inject_step_fault(int step) {
  const auto fault = requested_fault();
  if (!fault || fault->kind == "alloc" || fault->at != std::uint64_t(step)) return;
  // The default action, not a handler's (AddressSanitizer installs one): the process dies by the signal.
  if (fault->kind == "segv") std::signal(SIGSEGV, SIG_DFL), std::raise(SIGSEGV);
  if (fault->kind == "kill") std::raise(SIGKILL);
  if (fault->kind == "exit") throw std::runtime_error("injected failure at step " + std::to_string(step));
  if (fault->kind == "hang")
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

}  // namespace memstrat::cli
