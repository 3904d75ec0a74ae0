// What the fuzz targets feed each reader, shared with tests/test_fuzz_regressions.cpp
// so that the committed corpus runs through the same code in the normal build.
//
// Each function takes one input and returns when the reader either accepted it
// or refused it with the one exception its header documents. Anything else
// escapes: another exception type (a json type_error from a field nobody
// checked, ...) or InvariantBroken when an accepted input breaks a promise its
// users rely on. libFuzzer turns an escaping exception into a crash with a
// reproducer; the test turns it into a failure. Sanitizer reports, hangs and
// unbounded allocation are caught by the fuzzer's own limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <vector>

#include "benches/cli/record.h"
#include "benches/cli/suite.h"
#include "benches/cli/suite_config.h"
#include "benches/cli/trace.h"
#include "kernels/allocator.h"

namespace memstrat::fuzz {

// An input the reader accepted, but which breaks what its users rely on.
class InvariantBroken : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

inline void expect(bool holds, const std::string& what) {
  if (!holds) throw InvariantBroken(what);
}

// The body of every libFuzzer target: one input to `check`. An exception that
// escapes the reader's contract is named, then turned into a crash, so that
// libFuzzer keeps the input as a reproducer.
inline int run_target(const char* target, void (*check)(const std::string&), const std::uint8_t* data,
                      std::size_t size) {
  try {
    check(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s escaped: %s\n", target, typeid(e).name(), e.what());
    std::abort();
  }
  return 0;
}

// `memstrat suite --config FILE`: every input is read as TOML and as JSON.
inline void suite_config_input(const std::string& text) {
  for (const bool toml : {false, true}) {
    cli::SuiteConfig config;
    try {
      config = cli::parse_config_text(text, toml ? "fuzz.toml" : "fuzz.json", toml);
    } catch (const std::invalid_argument&) {
      continue;
    }
    expect(!config.cells.empty(), "a configuration was accepted with no runs in it");
    std::set<std::string> names;
    for (const auto& cell : config.cells) {
      expect(names.insert(cell.name).second, "two runs named " + cell.name);
      expect(cell.options.batch >= 1 && cell.options.steps == config.steps, "a run's options are out of range");
    }
  }
}

// `memstrat suite --resume`: the results file is read, then the runs it holds are
// kept and summarised with the new ones (run_suite in suite.cpp, step for step).
inline void results_input(const std::string& text) {
  nlohmann::json document;
  try {
    document = cli::parse_results_text(text, "fuzz.json");
  } catch (const std::runtime_error&) {
    return;
  }
  std::vector<nlohmann::json> iterations;
  for (const auto& r : document["benchmarks"])
    if (r.value("run_type", "") == "iteration" && r.value("status", "") != "interrupted") iterations.push_back(r);
  for (const auto& r : iterations) (void)(r["run_name"] == "cell" && r.value("repetition_index", -1) == 0);
  nlohmann::json versions = nlohmann::json::object();
  for (auto& r : iterations)
    if (r.contains("allocator_version")) versions[r["allocator"].get<std::string>()] = r["allocator_version"];
  (void)cli::results_document(cli::with_aggregates(iterations), {{"allocator_versions", versions}}).dump();
}

// An allocator that takes no memory: it hands out distinct addresses that are
// never touched, and checks that every free matches a live allocation.
class CheckingAllocator final : public Allocator {
 public:
  CheckingAllocator() : Allocator("checking") {}
  std::size_t live() const { return live_.size(); }
  bool bad_free() const { return bad_free_; }

 private:
  void* do_allocate(const AllocRequest& request) override {
    next_ += 4096;
    void* pointer = reinterpret_cast<void*>(next_);
    live_[pointer] = request.bytes;
    return pointer;
  }
  void do_deallocate(void* pointer, const AllocRequest& request) noexcept override {
    const auto it = live_.find(pointer);
    if (it == live_.end() || it->second != request.bytes)
      bad_free_ = true;
    else
      live_.erase(it);
  }

  std::uintptr_t next_ = 1 << 20;
  std::map<void*, std::size_t> live_;
  bool bad_free_ = false;
};

// memstrat-micro's replay: a trace read from a file, played for two steps.
inline void trace_input(const std::string& text) {
  cli::Trace trace;
  try {
    trace = cli::trace_from_text(text, "fuzz.json");
  } catch (const std::invalid_argument&) {
    return;
  }
  CheckingAllocator allocator;
  if (trace.is_captured()) {
    // Every captured step once, in order: each buffer freed at most once, and what is
    // left at the end given back by the replayer.
    {
      cli::Replayer replayer(trace, allocator);
      for (std::size_t step = 0; step < trace.steps.size(); ++step) replayer.step(int(step));
    }
    expect(!allocator.bad_free(), "the captured replay freed something that was not allocated");
    expect(allocator.live() == 0, "the captured replay left buffers allocated");
    return;
  }
  {
    cli::Replayer replayer(trace, allocator);
    const std::size_t after_setup = allocator.live();
    for (int step = 0; step < 2; ++step) {
      const std::uint64_t calls = allocator.stats().alloc_calls;
      replayer.step(step);
      expect(allocator.stats().alloc_calls - calls == trace.step_allocations,
             "a step made another number of allocations than the trace says");
      expect(allocator.live() == after_setup, "a step did not leave memory as it found it");
    }
  }
  expect(!allocator.bad_free(), "the replay freed something that was not allocated");
  expect(allocator.live() == 0, "the replay left buffers allocated");
}

}  // namespace memstrat::fuzz
