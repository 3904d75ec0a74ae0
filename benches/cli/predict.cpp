#include "benches/cli/predict.h"

#include <fmt/core.h>
#include <sys/mman.h>

#include <chrono>
#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "benches/cli/faults.h"
#include "benches/cli/measure.h"
#include "benches/cli/preload.h"
#include "benches/cli/session.h"
#include "benches/cli/supervise.h"
#include "benches/cli/trace.h"
#include "kernels/gemm.h"

namespace memstrat::cli {

namespace {

// What the replay cannot see for this configuration (predict.h), or empty.
std::string caveat_for(const RunOptions& o) {
  std::string caveat;
  if (o.tech.find("offload") != std::string::npos) caveat = "offload's spill file is outside the allocator";
  auto add = [&](const char* what) { caveat += std::string(caveat.empty() ? "" : "; ") + what; };
  if (o.data_mode == "mmap") add("the mapped dataset's pages are read by training, not replayed");
  // Measured: deepconv:16 b32 with bf16, 3 steps, 82 MiB with the RSS sampler off and
  // 100 MiB with it on, the same run otherwise; the replay, 94 MiB.
  if (o.alloc == "malloc")
    add("glibc's peak moves with where the process's small allocations (tensor headers, libgomp's, the "
        "harness's) land among the freed buffers, which the replay does not make");
  if (o.ranks > 1)
    add("rank 0 replayed alone, outside mpirun: Open MPI's libraries, shared-memory segments and the buffers it "
        "keeps for collectives are not in it");
  return caveat;
}

// The threads a run's first step starts, with what each keeps: the OpenMP team and
// each thread's GEMM packing buffer (kernels/gemm.cpp), filled by one GEMM of the
// kernel's own with no workspace given, as large as a step's. Its matrices are
// mapped outside every allocator and their resident bytes taken off the peak.
class TrainingThreads {
 public:
  TrainingThreads() {
    void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("cannot map the matrices that start the training threads");
    const std::size_t before = read_process_memory().rss_bytes;
    matrices_ = static_cast<float*>(p);
    std::fill(matrices_, matrices_ + 2 * std::size_t(kN) * kN, 1.0f);
    resident_ = read_process_memory().rss_bytes - before;
  }
  ~TrainingThreads() { ::munmap(matrices_, kBytes); }
  TrainingThreads(const TrainingThreads&) = delete;
  TrainingThreads& operator=(const TrainingThreads&) = delete;
  void start() {
    gemm(Trans::no, Trans::no, kN, kN, kN, 1.0f, matrices_, kN, matrices_, kN, 0.0f, matrices_ + kN * kN, kN);
  }
  std::size_t resident_bytes() const { return resident_; }

 private:
  static constexpr int kN = 512;
  static constexpr std::size_t kBytes = 2 * std::size_t(kN) * kN * sizeof(float);
  float* matrices_ = nullptr;
  std::size_t resident_ = 0;
};

// The child: the run's own setup, then the trace's steps with every page written.
nlohmann::json replay_in_this_process(const RunOptions& options, int steps) {
  const auto started = std::chrono::steady_clock::now();
  const Trace trace = record_trace(options);
  auto session = open_session(options, true);  // under --ranks: rank 0's allocations
  const ProcessMemory baseline = read_process_memory();
  TrainingThreads threads;
  const bool reset = reset_peak_rss();
  threads.start();
  std::size_t peak = 0;
  {
    Replayer replay(trace, *session->allocator, ReplayMode{false, true});
    for (int i = 0; i < steps; ++i) {
      inject_step_fault(i + 1);  // MEMSTRAT_FAULT, as in a run
      replay.step(i);
    }
    peak = read_process_memory().hwm_bytes - threads.resident_bytes();
  }
  return {{"peak_rss_bytes", peak},
          {"baseline_rss_bytes", baseline.rss_bytes},
          {"peak_reset", reset},
          {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
}

}  // namespace

RssPrediction predict_peak_rss(const RunOptions& options, int steps, const Limits& limits) {
  RssPrediction p;
  p.alloc = options.alloc;
  p.caveat = caveat_for(options);
  const WorkDir work("predict");
  const std::string out = work.path() + "/prediction.json", err = work.path() + "/stderr.txt";
  std::vector<std::string> argv = {self_exe(), "predict-rss"};
  for (std::string& word : option_arguments(options)) argv.push_back(std::move(word));
  argv.insert(argv.end(), {"--replay-steps", std::to_string(steps), "--out", out});
  const Outcome outcome = supervise(argv, limits, "", err);
  p.seconds = outcome.wall_s;
  if (outcome.status == RunStatus::oom && limits.memory_bytes) {
    p.over_budget = true;
    p.error = fmt::format("predicted above {}: the replay was stopped there ({})",
                          format_bytes(double(*limits.memory_bytes)), outcome.reason);
    return p;
  }
  if (outcome.status != RunStatus::ok) {
    std::string said = read_child_file(err);
    while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
    if (const auto line = said.rfind('\n'); line != std::string::npos) said = said.substr(line + 1);
    p.error = fmt::format("the prediction child ended {}{}{}", to_string(outcome.status),
                          outcome.reason.empty() ? "" : " (" + outcome.reason + ")", said.empty() ? "" : ": " + said);
    return p;
  }
  try {
    const nlohmann::json answer = nlohmann::json::parse(read_child_file(out));
    p.peak_rss_bytes = answer.at("peak_rss_bytes").get<std::size_t>();
    p.baseline_rss_bytes = answer.at("baseline_rss_bytes").get<std::size_t>();
  } catch (const std::exception& e) {
    p.error = std::string("the prediction child wrote no answer: ") + e.what();
  }
  return p;
}

Command add_predict_child(CLI::App& app) {
  auto* c = app.add_subcommand("predict-rss", "the child of `estimate --alloc` (not for direct use)");
  c->group("");  // hidden from `memstrat --help`
  auto options = std::make_shared<RunOptions>();
  add_run_options(*c, *options);
  auto out = std::make_shared<std::string>();
  auto steps = std::make_shared<int>(kDefaultPredictSteps);
  c->add_option("--out", *out, "where the answer goes (JSON)")->required();
  c->add_option("--replay-steps", *steps, "steps to replay, warm-up included")->check(whole_number(1, 100000));
  return [options, out, steps]() {
    ensure_preloaded(options->alloc);
    const nlohmann::json answer = replay_in_this_process(*options, *steps);
    // Whole or not at all: the parent reads the file only when this process exits 0.
    std::ofstream(*out) << answer.dump() << '\n';
    return 0;
  };
}

}  // namespace memstrat::cli
