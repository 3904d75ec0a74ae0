// The command line of memstrat (and of memstrat-rank, an MPI rank of it): every
// command registered, bad input answered in one line, the chosen command run.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "benches/cli/commands.h"
#include "benches/cli/entry.h"
#include "benches/cli/predict.h"
#include "benches/cli/preload.h"

namespace memstrat::cli {

int cli_main(int argc, char** argv) {
  memstrat::cli::remember_command_line(argc, argv);
  // Past a file-size limit (ulimit -f), a write then fails with EFBIG and is reported
  // in one line, instead of the signal killing the process without a word.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"memstrat: which memory strategy lets a training run fit, and what it costs in time"};
  app.require_subcommand(1);
  // Bad input is answered in one line, like every other error.
  app.failure_message([](const CLI::App* failed, const CLI::Error& e) {
    // The help to point at is the deepest subcommand named on the command line ("memstrat trace record").
    std::string where = "memstrat";
    for (const CLI::App* command = failed; command != nullptr;) {
      const CLI::App* parent = command;
      command = nullptr;
      for (const CLI::App* sub : parent->get_subcommands())
        if (sub->count() > 0) {
          where += " " + sub->get_name();
          command = sub;
          break;
        }
    }
    return "memstrat: error: " + std::string(e.what()) + " (see: " + where + " --help)\n";
  });
  std::vector<std::pair<CLI::App*, memstrat::cli::Command>> commands;
  auto add = [&](memstrat::cli::Command (*adder)(CLI::App&)) {
    auto command = adder(app);
    commands.emplace_back(app.get_subcommands({}).back(), std::move(command));
  };
  add(memstrat::cli::add_train);
  add(memstrat::cli::add_suite);
  add(memstrat::cli::add_run);
  add(memstrat::cli::add_fit);
  add(memstrat::cli::add_exec);
  add(memstrat::cli::add_estimate);
  add(memstrat::cli::add_trace);
  add(memstrat::cli::add_hwinfo);
  add(memstrat::cli::add_list);
  add(memstrat::cli::add_predict_child);
  // A first word that names no command is answered by name (CLI11 would only say one is required).
  std::string known;
  bool named = false;
  for (const auto* sub : app.get_subcommands({})) {
    if (!sub->get_group().empty()) known += (known.empty() ? "" : ", ") + sub->get_name();  // hidden ones aside
    named = named || (argc > 1 && sub->get_name() == argv[1]);
  }
  if (argc > 1 && argv[1][0] != '-' && !named) {
    std::fprintf(stderr, "memstrat: error: unknown command '%s' (known: %s)\n", argv[1], known.c_str());
    return 2;
  }
  // The same one level down ("memstrat trace nosuch").
  for (const auto* sub : app.get_subcommands({}))
    if (argc > 2 && sub->get_name() == argv[1] && argv[2][0] != '-' && !sub->get_subcommands({}).empty()) {
      std::string names;
      bool found = false;
      for (const auto* inner : sub->get_subcommands({})) {
        if (!inner->get_group().empty()) names += (names.empty() ? "" : ", ") + inner->get_name();  // hidden aside
        found = found || inner->get_name() == argv[2];
      }
      if (!found) {
        std::fprintf(stderr, "memstrat: error: unknown command '%s %s' (known: %s)\n", argv[1], argv[2], names.c_str());
        return 2;
      }
    }
  if (argc > 1 && argv[1][0] == '-' && std::string(argv[1]) != "-h" && std::string(argv[1]) != "--help") {
    std::fprintf(stderr, "memstrat: error: unknown option '%s': a command comes first (known: %s)\n", argv[1],
                 known.c_str());
    return 2;
  }
  // `memstrat exec [options] -- CMD ARGS...`: the words after "--" are the command's,
  // every one of them, and CLI11 never sees them.
  int parsed = argc;
  if (argc > 1 && std::string(argv[1]) == "exec")
    for (int i = 2; i < argc; ++i)
      if (std::string(argv[i]) == "--") {
        memstrat::cli::set_exec_command(std::vector<std::string>(argv + i + 1, argv + argc));
        parsed = i;
        break;
      }
  try {
    app.parse(parsed, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : commands)
      if (sub->parsed()) return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memstrat: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace memstrat::cli
