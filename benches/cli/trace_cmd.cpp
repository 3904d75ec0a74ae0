// `memstrat trace record`: the allocate/free sequence of one training step, as JSON.
#include <fmt/core.h>

#include "benches/cli/commands.h"
#include "benches/cli/preflight.h"
#include "benches/cli/record.h"
#include "benches/cli/trace.h"

namespace memstrat::cli {

Command add_trace(CLI::App& app) {
  auto* c = app.add_subcommand("trace", "record the allocation trace of one training step");
  c->require_subcommand(1);
  auto* record = c->add_subcommand("record", "write setup and one step's allocate/free sequence to a file (JSON)");
  auto options = std::make_shared<RunOptions>();
  add_config_options(*record, *options);
  auto out = std::make_shared<std::string>();
  record->add_option("--out,-o", *out, "the trace file to write")->required()->check(writable_path("trace file"));
  return [options, out]() {
    const Trace trace = record_trace(*options);
    write_file_atomically(*out, trace_to_json(trace).dump() + "\n", "trace file");
    fmt::print("{}: {} setup buffers, {} allocations per step, {} events; written to {}\n", trace.description,
               trace.setup.size(), trace.step_allocations, trace.step.size(), *out);
    return 0;
  };
}

}  // namespace memstrat::cli
