#include "benches/cli/ranks.h"

#include <fmt/core.h>
#include <netdb.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "benches/cli/disturbance.h"
#include "benches/cli/record.h"
#include "benches/cli/session.h"
#include "benches/cli/supervise.h"

namespace memstrat::cli {

namespace {

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string rank_program() {
#ifdef MEMSTRAT_RANK_PATH
  if (::access(MEMSTRAT_RANK_PATH, X_OK) == 0) return MEMSTRAT_RANK_PATH;
#endif
  // Beside this program, as the build puts it.
  const std::string self = self_exe();
  const std::string beside = self.substr(0, self.rfind('/') + 1) + "memstrat-rank";
  return ::access(beside.c_str(), X_OK) == 0 ? beside : std::string();
}

// What Open MPI says about the rank that failed ("mpirun noticed that process rank 1
// with PID 123 on node vm exited on signal 9 (Killed)."), or our own rank's last error.
std::string rank_failure(const std::string& err) {
  std::stringstream lines(err);
  std::string line, noticed, ours, exit_code, process;
  for (std::string l; std::getline(lines, l);) {
    if (l.find("process rank") != std::string::npos || l.find("MPI_ABORT was invoked on rank") != std::string::npos ||
        l.rfind("memstrat: rank ", 0) == 0)
      noticed = l;
    if (l.rfind("memstrat: error:", 0) == 0) ours = l;
    if (l.find("Exit code:") != std::string::npos) exit_code = l;
    if (l.find("Process name:") != std::string::npos) process = l;
  }
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(" \t"));
    return s;
  };
  if (!noticed.empty()) return trim(noticed) + (ours.empty() ? "" : " (" + ours + ")");
  if (!ours.empty()) return ours;
  if (!process.empty()) return trim(process) + ", " + trim(exit_code);
  return {};
}

// Every process still under this one (ranks that mpirun left behind when it was
// killed: they were re-parented here, this process being their subreaper) is killed
// and reaped.
void reap_leftovers() {
  for (int pass = 0; pass < 50; ++pass) {
    const std::vector<int> tree = process_tree(::getpid());
    for (std::size_t i = 1; i < tree.size(); ++i) ::kill(tree[i], SIGKILL);
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (tree.size() <= 1) return;
    ::usleep(20000);
  }
}

nlohmann::json failure(const RunOptions& o, RunStatus status, const std::string& reason) {
  nlohmann::json r = failure_record(record_name(o), config_json(o), status, reason);
  r["ranks"] = o.ranks;
  return r;
}

}  // namespace

void check_rank_launch(const RunOptions& o, const RankLaunch& launch) {
  check_rank_slices(o);
  if (find_in_path("mpirun").empty())
    throw std::invalid_argument(
        "--ranks needs mpirun, which is not on PATH: install Open MPI (scripts/setup.sh --mpi)");
  if (rank_program().empty())
    throw std::invalid_argument(
        "--ranks needs memstrat-rank, which this build did not make (no MPI when it was configured): run "
        "scripts/setup.sh --mpi, then cmake again");
  if (!o.transport.empty() && o.transport != "tcp")
    throw std::invalid_argument("--transport is tcp (Open MPI's TCP transport only) or left out (got '" + o.transport +
                                "')");
  if (!launch.hostfile.empty()) {
    std::ifstream in(launch.hostfile);
    if (!in) throw std::invalid_argument("--hostfile " + launch.hostfile + ": cannot be read");
    int hosts = 0;
    for (std::string line; std::getline(in, line);) {
      line = line.substr(0, line.find('#'));
      std::stringstream words(line);
      std::string host;
      if (!(words >> host)) continue;
      ++hosts;
      addrinfo* found = nullptr;
      if (::getaddrinfo(host.c_str(), nullptr, nullptr, &found) != 0)
        throw std::invalid_argument("--hostfile " + launch.hostfile + ": host '" + host + "' does not resolve");
      ::freeaddrinfo(found);
    }
    if (hosts == 0) throw std::invalid_argument("--hostfile " + launch.hostfile + ": names no host");
  }
}

namespace {

// mpirun's command line for N ranks of `memstrat-rank COMMAND`, the options given.
std::vector<std::string> mpirun_command(const RunOptions& o, const RankLaunch& launch, const std::string& command) {
  std::vector<std::string> argv = {find_in_path("mpirun"), "-np", std::to_string(o.ranks)};
  if (::geteuid() == 0) argv.emplace_back("--allow-run-as-root");
  if (launch.hostfile.empty() && o.ranks > usable_cpus()) argv.emplace_back("--oversubscribe");
  if (!launch.hostfile.empty()) argv.insert(argv.end(), {"--hostfile", launch.hostfile});
  if (o.transport == "tcp") argv.insert(argv.end(), {"--mca", "btl", "tcp,self"});
  // Each rank's threads are its own to place (cores / ranks each, session.cpp).
  argv.insert(argv.end(), {"--bind-to", "none", rank_program(), command});
  for (std::string& word : option_arguments(o)) argv.push_back(std::move(word));
  return argv;
}

}  // namespace

void add_rank_launch_options(CLI::App& command, RankLaunch& launch) {
  command.add_option("--hostfile", launch.hostfile, "with --ranks: Open MPI's hostfile, the hosts the ranks run on")
      ->check(CLI::ExistingFile);
  command.add_option("--timeout", launch.timeout_s, "with --ranks: seconds before every rank is stopped")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

int train_ranks(const RunOptions& o, const std::vector<std::string>& extra, const RankLaunch& launch) {
  check_rank_launch(o, launch);
  std::vector<std::string> argv = mpirun_command(o, launch, "train");
  argv.insert(argv.end(), extra.begin(), extra.end());
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("cannot start mpirun: fork failed");
  if (child == 0) {
    std::vector<char*> args;
    for (std::string& word : argv) args.push_back(word.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "memstrat: cannot run %s\n", args[0]);
    ::_exit(127);
  }
  // Rank 0 prints the steps on this terminal; mpirun names a rank that fails.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(launch.timeout_s);
  int status = 0;
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline || stop_requested) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      reap_leftovers();
      std::fprintf(
          stderr, "memstrat: %s: every rank stopped\n",
          stop_requested ? "interrupted" : fmt::format("no rank finished within {:.0f} s", launch.timeout_s).c_str());
      return 1;
    }
    ::usleep(20000);
  }
  reap_leftovers();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

nlohmann::json run_ranks(const RunOptions& o, int warmup, bool keep_timeline, const RankLaunch& launch) {
  check_rank_launch(o, launch);
  const WorkDir work("ranks");
  const std::string json = work.path() + "/rank.json";
  std::vector<std::string> argv = mpirun_command(o, launch, "run");
  argv.insert(argv.end(), {"--warmup", std::to_string(warmup), "--json", json});
  if (!keep_timeline) argv.emplace_back("--no-timeline");

  Limits limits;
  limits.timeout_s = launch.timeout_s;
  const std::string out = work.path() + "/stdout", err = work.path() + "/stderr";
  // Ranks orphaned by a killed mpirun come to this process, which ends them.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  const Outcome outcome = supervise(argv, limits, out, err);
  reap_leftovers();
  const std::string err_text = read_child_file(err);
  if (outcome.status != RunStatus::ok || outcome.exit_code != 0) {
    std::string why = rank_failure(err_text);
    if (outcome.status == RunStatus::timeout)
      why = fmt::format(
          "no rank finished within {:.0f} s (a collective waiting on a rank that is gone, or too "
          "slow a run){}",
          launch.timeout_s, why.empty() ? "" : ": " + why);
    if (why.empty())
      why = outcome.reason.empty() ? "mpirun exited with " + std::to_string(outcome.exit_code) : outcome.reason;
    const bool diverged = outcome.exit_code == kDivergedExit;
    return failure(
        o, outcome.status == RunStatus::ok ? (diverged ? RunStatus::diverged : RunStatus::crash) : outcome.status, why);
  }
  std::vector<nlohmann::json> records;
  for (int r = 0; r < o.ranks; ++r) {
    const std::string path = json + ".rank" + std::to_string(r);
    const std::string text = read_child_file(path);
    nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.contains("benchmarks") || doc["benchmarks"].empty())
      return failure(o, RunStatus::crash, fmt::format("rank {} wrote no record ({})", r, path));
    records.push_back(doc["benchmarks"][0]);
  }
  nlohmann::json merged = records.front();
  nlohmann::json per_rank = nlohmann::json::array();
  double rss_min = 1e300, rss_max = 0, ms_min = 1e300, ms_max = 0;
  for (const nlohmann::json& r : records) {
    nlohmann::json mine;
    for (const char* key :
         {"rank", "peak_rss_bytes", "baseline_rss_bytes", "peak_live_bytes", "step_ms", "peak_parameter_bytes",
          "peak_gradient_bytes", "peak_optimizer_state_bytes", "peak_activation_bytes", "peak_temporary_bytes",
          "peak_workspace_bytes", "comm_bytes_per_step", "comm_ms_per_step", "predicted_peak_live_bytes", "loss_last"})
      if (r.contains(key)) mine[key] = r[key];
    per_rank.push_back(mine);
    const double rss = r.value("peak_rss_bytes", 0.0), ms = r.value("step_ms", 0.0);
    rss_min = std::min(rss_min, rss), rss_max = std::max(rss_max, rss);
    ms_min = std::min(ms_min, ms), ms_max = std::max(ms_max, ms);
    if (r.value("status", "") != "ok") merged["status"] = r["status"];
  }
  merged["rank_records"] = per_rank;
  merged["peak_rss_bytes"] = rss_max;
  if (rss_min > 0) merged["peak_rss_spread"] = rss_max / rss_min;
  if (ms_min > 0) merged["step_ms_spread"] = ms_max / ms_min;
  merged.erase("rank");
  return merged;
}

}  // namespace memstrat::cli
