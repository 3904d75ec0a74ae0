// `memstrat trace record`: the allocate/free sequence of one training step, as JSON.
#include <fmt/core.h>

#include "benches/cli/commands.h"
#include "benches/cli/preflight.h"
#include "benches/cli/record.h"
#include "benches/cli/trace.h"
#include "benches/cli/trace_replay.h"

namespace memstrat::cli {

Command add_trace(CLI::App& app) {
  auto* c = app.add_subcommand(
      "trace", "record the allocation trace of one training step, or replay a trace through strategies");
  c->require_subcommand(1);
  auto* record = c->add_subcommand("record", "write setup and one step's allocate/free sequence to a file (JSON)");
  auto options = std::make_shared<RunOptions>();
  add_config_options(*record, *options);
  auto out = std::make_shared<std::string>();
  record->add_option("--out,-o", *out, "the trace file to write")->required()->check(writable_path("trace file"));
  Command run_record = [options, out]() {
    const Trace trace = record_trace(*options);
    write_file_atomically(*out, trace_to_json(trace).dump() + "\n", "trace file");
    fmt::print("{}: {} setup buffers, {} allocations per step, {} events; written to {}\n", trace.description,
               trace.setup.size(), trace.step_allocations, trace.step.size(), *out);
    return 0;
  };
  Command run_replay = add_trace_replay(*c);
  Command run_child = add_trace_replay_child(*c);
  auto* replay = c->get_subcommand("replay");
  auto* child = c->get_subcommand("replay-child");
  return [=]() { return replay->parsed() ? run_replay() : child->parsed() ? run_child() : run_record(); };
}

}  // namespace memstrat::cli
