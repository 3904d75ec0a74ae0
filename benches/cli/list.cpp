// `memstrat list`: every strategy and model, with a line on what each is.
#include <fmt/core.h>

#include "benches/cli/commands.h"
#include "kernels/models.h"
#include "strategies/registry.h"
#include "strategies/techniques.h"

namespace memstrat::cli {

Command add_list(CLI::App& app) {
  app.add_subcommand("list", "name every allocator and model, with what each is");
  return []() {
    fmt::print("allocators (--alloc):\n");
    for (const auto& e : allocator_entries()) fmt::print("  {:<24} {}\n", e.usage, e.summary);
    fmt::print("\ntechniques (--tech, comma-separated):\n");
    for (const auto& e : technique_entries()) fmt::print("  {:<24} {}\n", e.usage, e.summary);
    fmt::print("\nmodels (--model):\n");
    std::string help = model_help();
    for (std::size_t start = 0; start < help.size();) {
      const auto end = std::min(help.find('\n', start), help.size());
      fmt::print("  {}\n", help.substr(start, end - start));
      start = end + 1;
    }
    return 0;
  };
}

}  // namespace memstrat::cli
