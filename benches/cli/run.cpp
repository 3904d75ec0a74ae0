// `memstrat run`: trains one configuration in this process and writes one record
// with every figure of DESIGN.md, in Google Benchmark's JSON shape.
//
// Order of a run: preload the allocator (re-exec), setup (data, model, state),
// then the baseline is read and the peak-RSS mark reset, so the peak covers
// training alone; warm-up steps count for memory but not for time.
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "benches/cli/commands.h"
#include "benches/cli/disturbance.h"
#include "benches/cli/faults.h"
#include "benches/cli/machine.h"
#include "benches/cli/measure.h"
#include "benches/cli/preflight.h"
#include "benches/cli/preload.h"
#include "benches/cli/probe.h"
#include "benches/cli/ranks.h"
#include "benches/cli/record.h"
#include "benches/cli/session.h"
#include "benches/cli/step_timeline.h"

namespace memstrat::cli {

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double position = q * double(values.size() - 1);
  const auto low = std::size_t(std::floor(position)), high = std::size_t(std::ceil(position));
  return values[low] + (values[high] - values[low]) * (position - double(low));
}

// A run whose loss left the rails: its step times are those of NaN arithmetic and
// its later figures mean nothing, so the record says where and why, and no more.
nlohmann::json diverged_record(const RunOptions& options, const std::vector<double>& losses, int step,
                               const std::string& why) {
  const std::string reason =
      fmt::format("training diverged at step {}: {}; lower --lr or check the model's initialisation", step, why);
  nlohmann::json r = failure_record(record_name(options), config_json(options), RunStatus::diverged, reason);
  r["diverged_step"] = step;
  r["losses"] = losses;
  if (!losses.empty()) r["loss_first"] = losses.front();
  return r;
}

}  // namespace

nlohmann::json measure_run(const RunOptions& options, int warmup, bool keep_timeline) {
  auto session = open_session(options);
  Allocator& allocator = *session->allocator;
  const std::size_t predicted = estimate_for(options).peak_live_bytes;

  allocator.reset_peak();
  const AllocStats before = allocator.stats();
  AllocatorProbe probe(allocator);
  StepTimeline step_timeline(allocator, probe);  // the last measured step, event by event
  // Detached before the session's buffers are freed.
  const ObserverScope observing(allocator, keep_timeline ? static_cast<AllocObserver*>(&step_timeline) : &probe);
  double timeline_start_ms = 0.0;
  RssSampler sampler;
  const ProcessMemory baseline = read_process_memory();
  const bool mark_reset = reset_peak_rss();
  const ProcessTimes times_before = read_process_times();
  sampler.start();

  std::vector<double> losses, step_ms;
  AllocStats measured_from = before;
  // What other load took from the measured steps: each step's CPU time beside its wall
  // time, and the system's view over the window (disturbance.h has the rule).
  RunLoad load;
  load.threads = omp_get_max_threads(), load.cpus = usable_cpus();
  ProcessTimes window_from = times_before;
  double window_cpu_from = 0.0;
  std::optional<double> load_average_from, mhz_from;
  CommStats comm_from;
  for (int i = 0; i < warmup + options.steps; ++i) {
    if (i == warmup) {
      // The figures of the allocator's own view, the RSS split and the per-kind peaks
      // come from the measured steps: warm-up is where strategies record, size and spill.
      measured_from = allocator.stats();
      allocator.reset_peak();
      probe.start();
      sampler.reset_peak();
      load_average_from = read_load_average(), mhz_from = read_cpu_mhz();
      window_from = read_process_times(), window_cpu_from = process_cpu_ms();
      if (session->comm) comm_from = session->comm->stats();
    }
    inject_step_fault(i + 1);
    if (keep_timeline && i == warmup + options.steps - 1) step_timeline.arm(), timeline_start_ms = sampler.elapsed_ms();
    const SystemTimes system_at_start = read_system_times();
    const std::optional<double> wait_at_start = process_run_delay_ms();
    const double cpu_at_start = process_cpu_ms();
    const auto wall_at_start = Clock::now();
    const StepResult r = session->trainer->step();
    StepTiming timing;
    timing.wall_ms = std::chrono::duration<double, std::milli>(Clock::now() - wall_at_start).count();
    timing.cpu_ms = process_cpu_ms() - cpu_at_start;
    if (const std::optional<double> wait = process_run_delay_ms(); wait && wait_at_start)
      timing.wait_ms = std::max(0.0, *wait - *wait_at_start);
    const SystemTimes system_at_end = read_system_times();
    timing.steal_ms = system_at_end.steal_ms - system_at_start.steal_ms;
    timing.others_ms = (system_at_end.busy_ms - system_at_start.busy_ms) - timing.cpu_ms;
    sampler.mark_step();
    if (const std::string why = divergence(losses.empty() ? r.loss : losses.front(), r.loss); !why.empty()) {
      sampler.stop();
      return diverged_record(options, losses, i + 1, why);
    }
    losses.push_back(r.loss);
    if (i >= warmup) step_ms.push_back(r.ms), load.steps.push_back(timing);
  }
  const double window_cpu = process_cpu_ms() - window_cpu_from;
  const std::optional<double> load_average_to = read_load_average(), mhz_to = read_cpu_mhz();
  sampler.stop();
  const ProcessTimes times_after = read_process_times();
  load.involuntary_switches = times_after.involuntary_switches - window_from.involuntary_switches;
  const Verdict verdict = judge(load);
  const ProcessMemory after = read_process_memory();
  const AllocStats stats = allocator.stats();
  const RssSampler::Point peak_sample = sampler.peak();

  // The steps another load disturbed are left out of the run's figure (figure_steps).
  const double median = percentile(figure_steps(step_ms, verdict), 0.5);
  const std::size_t peak_rss = mark_reset ? after.hwm_bytes : peak_sample.rss_bytes;
  const double steps = double(options.steps);

  nlohmann::json r;
  r["name"] = record_name(options);
  r["run_name"] = r["name"];
  r["run_type"] = "iteration";
  r["iterations"] = options.steps;
  r["real_time"] = median;
  r["cpu_time"] = window_cpu / steps;
  r["time_unit"] = "ms";
  r["status"] = "ok";
  r["config"] = config_json(options);
  // What the defaults resolved to, so that a run given none of them can still be matched.
  r["learning_rate"] = session->train.optimizer.lr;
  r["dataset_samples"] = session->data->info().samples;
  r["threads_used"] = omp_get_max_threads();
  r["warmup_steps"] = warmup;
  r["step_ms"] = median;
  r["step_ms_p10"] = percentile(step_ms, 0.1);
  r["step_ms_p90"] = percentile(step_ms, 0.9);
  r["samples_per_s"] = options.batch / (median / 1e3);
  r["peak_rss_bytes"] = peak_rss;
  r["peak_rss_source"] = mark_reset ? "VmHWM" : "sampler";
  r["rss_anon_bytes"] = peak_sample.anon_bytes;
  r["rss_file_bytes"] = peak_sample.file_bytes;
  r["baseline_rss_bytes"] = baseline.rss_bytes;
  r["peak_live_bytes"] = stats.peak_live_bytes;
  r["baseline_live_bytes"] = before.live_bytes;
  // Training's own bytes on both sides, so that 1.0 is perfect: what RSS grew by over
  // setup, against what the trainer's live buffers grew by over setup.
  if (stats.peak_live_bytes > before.live_bytes)
    r["overhead_ratio"] =
        double(peak_rss - std::min(peak_rss, baseline.rss_bytes)) / double(stats.peak_live_bytes - before.live_bytes);
  for (int k = 0; k < kBufferKindCount; ++k)
    r[std::string("peak_") + to_string(BufferKind(k)) + "_bytes"] = stats.peak_by_kind[std::size_t(k)];
  if (probe.reserved) r["allocator_reserved_bytes"] = *probe.reserved;
  if (probe.allocated) r["allocator_allocated_bytes"] = *probe.allocated;
  if (probe.reserved && probe.allocated && *probe.reserved > 0)
    r["fragmentation"] = 1.0 - double(std::min(*probe.allocated, *probe.reserved)) / double(*probe.reserved);
  r["retained_bytes"] = double(after.rss_bytes) - double(baseline.rss_bytes);
  r["alloc_calls_per_step"] = double(stats.alloc_calls - measured_from.alloc_calls) / steps;
  r["alloc_ns_per_step"] = double(stats.alloc_ns - measured_from.alloc_ns) / steps;
  r["minor_faults"] = times_after.minor_faults - times_before.minor_faults;
  r["major_faults"] = times_after.major_faults - times_before.major_faults;
  r["predicted_peak_live_bytes"] = predicted;
  r["loss_first"] = losses.front();
  r["loss_last"] = losses.back();
  const auto [weights_sum, weights_sum_sq] = session->trainer->weight_sums();
  r["weights_sum"] = weights_sum;
  r["weights_l2"] = std::sqrt(weights_sum_sq);
  r["losses"] = losses;
  r["step_times_ms"] = step_ms;
  nlohmann::json step_cpu = nlohmann::json::array();
  for (const StepTiming& t : load.steps) step_cpu.push_back(std::round(t.cpu_ms * 1000) / 1000);
  r["step_cpu_ms"] = step_cpu;
  if (verdict.wait_share) {
    nlohmann::json step_wait = nlohmann::json::array();
    for (const StepTiming& t : load.steps) step_wait.push_back(std::round(t.wait_ms.value_or(0.0) * 1000) / 1000);
    r["step_wait_ms"] = step_wait;
    r["wait_share"] = *verdict.wait_share;
    r["max_step_wait_share"] = *verdict.max_step_wait_share;
  }
  r["cpu_share"] = verdict.cpu_share;
  r["min_step_cpu_share"] = verdict.min_step_share;
  r["steal_share"] = verdict.steal_share;
  r["others_cpu_share"] = verdict.others_share;
  r["involuntary_switches"] = load.involuntary_switches;
  r["usable_cpus"] = load.cpus;
  if (load_average_from && load_average_to) r["load_average"] = {*load_average_from, *load_average_to};
  if (mhz_from && mhz_to) r["cpu_mhz"] = (*mhz_from + *mhz_to) / 2.0;
  r["disturbed"] = verdict.disturbed;
  r["disturbed_steps"] = verdict.disturbed_steps;
  r["step_disturbed"] = verdict.step_disturbed;
  if (!verdict.reason.empty()) r["disturbed_reason"] = verdict.reason;
  if (session->comm != nullptr) {
    const CommStats& c = session->comm->stats();
    r["rank"] = session->comm->rank();
    r["ranks"] = session->comm->size();
    r["rank_batch"] = session->train.batch;
    r["comm_bytes_per_step"] = double(c.bytes - comm_from.bytes) / steps;
    r["comm_ms_per_step"] = double(c.ns - comm_from.ns) / 1e6 / steps;
    if (const auto formula = zero_formula_bytes(options)) r["zero_formula_bytes"] = *formula;
  }
  r["allocator"] = allocator.name();
  if (!allocator.version().empty()) r["allocator_version"] = allocator.version();
  for (const auto& [key, value] : allocator.own_figures()) r[key] = value;
  if (keep_timeline) {
    nlohmann::json t_ms = nlohmann::json::array(), rss = nlohmann::json::array();
    for (const auto& p : sampler.points()) t_ms.push_back(std::round(p.t_ms * 10) / 10), rss.push_back(p.rss_bytes);
    r["rss_timeline"] = {{"t_ms", t_ms}, {"rss_bytes", rss}, {"step_end_ms", sampler.step_end_ms()}};
    if (step_timeline.recorded()) r["step_timeline"] = step_timeline.json(timeline_start_ms);
  }
  return r;
}

Command add_run(CLI::App& app) {
  auto* c = app.add_subcommand("run", "train one configuration in this process and write a record of every figure");
  auto options = std::make_shared<RunOptions>();
  add_run_options(*c, *options);
  auto warmup = std::make_shared<int>(2);
  auto json_path = std::make_shared<std::string>();
  auto timeline = std::make_shared<bool>(true);
  c->add_option("--warmup", *warmup, "steps run before timing starts (they count for memory)")
      ->check(whole_number(0, 1000))
      ->capture_default_str();
  c->add_option("--json", *json_path, "write the results file here (Google Benchmark's shape)")
      ->check(writable_path("results file"));
  c->add_flag("!--no-timeline", *timeline, "leave the RSS timeline out of the record");
  auto launch = std::make_shared<RankLaunch>();
  add_rank_launch_options(*c, *launch);
  return [options, warmup, json_path, timeline, launch]() {
    if (options->ranks > 1 && !is_rank_process()) {
      // This process starts the ranks and merges what they write.
      const nlohmann::json record = run_ranks(*options, *warmup, *timeline, *launch);
      if (record["status"] == "ok")
        print_record_summary(record);
      else
        std::fprintf(stderr, "memstrat: %s: %s\n", record["status"].get<std::string>().c_str(),
                     record.value("reason", "").c_str());
      if (!json_path->empty()) write_results_file(*json_path, results_document({record}, machine_context()));
      return record["status"] == "ok" ? 0 : record["status"] == "diverged" ? kDivergedExit : 1;
    }
    ensure_preloaded(options->alloc);
    const nlohmann::json record = measure_run(*options, *warmup, *timeline);
    const int rank = record.value("rank", 0);
    if (rank == 0) print_record_summary(record);
    // Under mpirun every rank writes its own file; the starting process merges them.
    const std::string path =
        is_rank_process() && !json_path->empty() ? *json_path + ".rank" + std::to_string(rank) : *json_path;
    if (!path.empty()) write_results_file(path, results_document({record}, machine_context()));
    return record["status"] == "ok" ? 0 : kDivergedExit;
  };
}

}  // namespace memstrat::cli
