// memstrat-micro: Google Benchmark programs for the kernel (GEMM, conv) and
// for the allocators (trace replay).
//
// --allocator=NAME runs the replay benchmarks with a process-wide allocator
// (jemalloc, mimalloc, tcmalloc, preload:PATH): the program restarts itself
// with it preloaded, as its users deploy it. Without it, the replay
// benchmarks cover the in-process strategies.
//
// The context of every report says which OpenBLAS ran, the reference the GEMM
// benchmarks hold ours against: its core (OpenBLAS picks one per CPU at load
// time unless OPENBLAS_CORETYPE forces one), its build configuration, its
// thread count, and every OPENBLAS_* variable that was set.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "benches/cli/preload.h"
#include "benches/micro/replay.h"

namespace {

// "NAME=value NAME=value", sorted, of every OPENBLAS_* variable; "none" when there is none.
std::string openblas_environment() {
  std::vector<std::string> set;
  for (char** e = environ; e && *e; ++e)
    if (std::strncmp(*e, "OPENBLAS_", 9) == 0) set.emplace_back(*e);
  if (set.empty()) return "none";
  std::sort(set.begin(), set.end());
  std::string joined;
  for (const auto& s : set) joined += (joined.empty() ? "" : " ") + s;
  return joined;
}

void add_openblas_context() {
  // The GEMM benchmarks run OpenBLAS with OpenMP's thread count (micro_gemm.cpp);
  // set it here too, so that the count recorded is the one they run with.
  openblas_set_num_threads(omp_get_max_threads());
  benchmark::AddCustomContext("openblas_corename", openblas_get_corename());
  benchmark::AddCustomContext("openblas_config", openblas_get_config());
  benchmark::AddCustomContext("openblas_num_threads", std::to_string(openblas_get_num_threads()));
  benchmark::AddCustomContext("openblas_env", openblas_environment());
  benchmark::AddCustomContext("openblas_core_forced", std::getenv("OPENBLAS_CORETYPE") ? "true" : "false");
}

}  // namespace

int main(int argc, char** argv) {
  memstrat::cli::remember_command_line(argc, argv);
  std::string allocator;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--allocator=", 12) == 0)
      allocator = argv[i] + 12;
    else
      rest.push_back(argv[i]);
  }
  try {
    if (!allocator.empty()) memstrat::cli::ensure_preloaded(allocator);
    memstrat::micro::register_replay_benchmarks(allocator);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memstrat-micro: error: %s\n", e.what());
    return 1;
  }
  int count = int(rest.size());
  benchmark::Initialize(&count, rest.data());
  if (benchmark::ReportUnrecognizedArguments(count, rest.data())) return 1;
  add_openblas_context();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
