// Fault injection for the tests: MEMSTRAT_FAULT=KIND@N makes a run fail on purpose,
// so that the suite's handling of every way a run can end is exercised for real.
//
//   segv@STEP, kill@STEP   the run's process dies by that signal when step STEP begins
//   hang@STEP              it stops making progress (the suite's time limit must end it)
//   exit@STEP              it throws, and ends with an error line and status 1
//   alloc@N                the Nth allocator request from the start of the first
//                          training step fails (AllocError), whatever the strategy
//   busy@STEP              from that step on, the run competes for the CPU with one
//                          busy process per CPU it may use, started by the run itself
//                          and ended with it: real load from another program, for the
//                          disturbance rule (disturbance.h) and the suite's re-runs
//
// Steps and requests are counted from 1; warm-up steps count. With MEMSTRAT_FAULT_ONCE=PATH
// the fault strikes only a run that finds no file at PATH, and that run makes one: the
// first run of a suite is faulty, its re-runs are not. With MEMSTRAT_FAULT_RANK=R only
// rank R of a --ranks run is struck.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kernels/allocator.h"

namespace memstrat::cli {

enum class FaultKind { segv, kill, hang, exit, alloc, busy };

struct Fault {
  FaultKind kind = FaultKind::exit;
  std::uint64_t at = 0;  // the step, or for alloc the request
};

// The fault MEMSTRAT_FAULT asks for; none when unset or empty. Throws
// std::invalid_argument when it is set to something this does not understand.
std::optional<Fault> requested_fault();

// Arms alloc@N on the allocator, counted from the next request. Call at the end of setup.
void arm_allocation_fault(Allocator& allocator);

// Raises the step fault (segv, kill, hang, exit, busy) when `step` (from 1) is its step.
void inject_step_fault(int step);

}  // namespace memstrat::cli
