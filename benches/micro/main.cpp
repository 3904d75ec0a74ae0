// memstrat-micro: Google Benchmark programs for the kernel (GEMM, conv) and
// for the allocators (trace replay).
//
// --allocator=NAME runs the replay benchmarks with a process-wide allocator
// (jemalloc, mimalloc, tcmalloc, preload:PATH): the program restarts itself
// with it preloaded, as its users deploy it. Without it, the replay
// benchmarks cover the in-process strategies.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "benches/cli/preload.h"
#include "benches/micro/replay.h"

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
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
