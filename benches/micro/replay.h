#pragma once

#include <string>

namespace memstrat::micro {

// Registers replay/<trace>/<strategy> for every in-process strategy, or, when
// `process_wide` names one (already preloaded), for that one alone.
void register_replay_benchmarks(const std::string& process_wide);

}  // namespace memstrat::micro
