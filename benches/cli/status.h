// How a run ended: the one list of statuses, written into records by name.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace memstrat::cli {

enum class RunStatus {
  ok,
  oom,          // over the memory budget (killed, or refused by the estimator before it started)
  diverged,     // the loss was non-finite or exploded (kernels/trainer.h: divergence)
  crash,        // died by a signal, exited non-zero, or wrote no usable record
  timeout,      // over the suite's time limit
  interrupted,  // the suite was stopped (Ctrl-C): not a result, run again with --resume
};

inline const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::ok:
      return "ok";
    case RunStatus::oom:
      return "oom";
    case RunStatus::diverged:
      return "diverged";
    case RunStatus::crash:
      return "crash";
    case RunStatus::timeout:
      return "timeout";
    case RunStatus::interrupted:
      return "interrupted";
  }
  return "crash";
}

// The status a record names; none when it names none of these.
inline std::optional<RunStatus> parse_status(std::string_view text) {
  for (RunStatus s : {RunStatus::ok, RunStatus::oom, RunStatus::diverged, RunStatus::crash, RunStatus::timeout,
                      RunStatus::interrupted})
    if (text == to_string(s)) return s;
  return std::nullopt;
}

}  // namespace memstrat::cli
