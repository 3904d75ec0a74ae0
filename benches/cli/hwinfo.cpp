// `memstrat hwinfo`: the machine, as results files record it.
#include <fmt/core.h>

#include "benches/cli/commands.h"
#include "benches/cli/machine.h"

namespace memstrat::cli {

Command add_hwinfo(CLI::App& app) {
  app.add_subcommand("hwinfo", "print the machine as results files record it (JSON)");
  return []() {
    fmt::print("{}\n", machine_context().dump(2));
    return 0;
  };
}

}  // namespace memstrat::cli
