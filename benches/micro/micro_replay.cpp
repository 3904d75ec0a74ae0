// Trace replay: one training step's exact allocate/free sequence (vgg-mini at
// batch 64, vgg16 at 224x224 batch 2), recorded from a dry run of the trainer,
// played against each strategy. Reports ns per allocate/free pair and what the
// strategy holds from the OS. Buffers are not touched: this is the allocator's
// own cost; page faults show in the suite's step times.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <memory>

#include "benches/cli/probe.h"
#include "benches/cli/trace.h"
#include "benches/micro/replay.h"
#include "strategies/registry.h"

namespace memstrat::micro {

namespace {

struct NamedTrace {
  const char* name;
  cli::Trace trace;
};

const std::vector<NamedTrace>& traces() {
  static const std::vector<NamedTrace> all = [] {
    // Recording sets OpenMP's thread count to the run's (2, so that the traces
    // are the same on every machine); the GEMM benchmarks run with OpenMP's
    // count, so give back the one the process started with (OMP_NUM_THREADS or
    // every core), not 2.
    const int threads = omp_get_max_threads();
    std::vector<NamedTrace> t;
    cli::RunOptions mini;
    mini.model = "vgg-mini", mini.batch = 64, mini.threads = 2;
    t.push_back({"vgg-mini-b64", cli::record_trace(mini)});
    cli::RunOptions big;
    big.model = "vgg16", big.batch = 2, big.threads = 2;
    t.push_back({"vgg16-b2", cli::record_trace(big)});
    omp_set_num_threads(threads);
    return t;
  }();
  return all;
}

void BM_replay(benchmark::State& state, const cli::Trace* trace, const std::string& spec) {
  std::unique_ptr<Allocator> allocator;
  try {
    allocator = make_allocator(spec);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  int step = 0;
  {
    cli::Replayer replayer(*trace, *allocator);
    replayer.step(step++);  // the first step sizes arenas and plans: not the steady state
    cli::AllocatorProbe probe(*allocator);
    const ObserverScope observing(*allocator, &probe);  // detached before the replayer frees its buffers
    const AllocStats before = allocator->stats();
    for (auto _ : state) replayer.step(step++);
    const AllocStats after = allocator->stats();
    const double pairs = double(after.alloc_calls - before.alloc_calls);
    state.counters["ns_per_pair"] = pairs > 0 ? double(after.alloc_ns - before.alloc_ns) / pairs : 0.0;
    state.counters["pairs_per_step"] = double(trace->step_allocations);
    // What the strategy held from the OS when live bytes peaked.
    if (probe.reserved) state.counters["reserved_MiB"] = double(*probe.reserved) / 1048576.0;
    state.counters["peak_live_MiB"] = double(after.peak_live_bytes) / 1048576.0;
  }
  state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(trace->step_allocations));
}

}  // namespace

void register_replay_benchmarks(const std::string& process_wide) {
  std::vector<std::string> specs;
  if (!process_wide.empty()) {
    specs.push_back(process_wide);
  } else {
    for (const auto& e : allocator_entries())
      if (!e.process_wide) specs.emplace_back(e.name);
    specs.insert(specs.end(), {"arena:separate", "pool:first", "pool:worst"});
  }
  for (const auto& t : traces())
    for (const auto& spec : specs)
      benchmark::RegisterBenchmark(("replay/" + std::string(t.name) + "/" + spec).c_str(), BM_replay, &t.trace, spec)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
}

}  // namespace memstrat::micro
