// Allocation traces: the allocate/free sequence of one training step, with
// what each request is for, recorded from a dry run of the real trainer and
// replayed against any strategy (memstrat-micro's replay benchmarks); or the
// malloc-family calls of any program, captured as it ran (`memstrat exec --capture`,
// benches/cli/capture.h) and replayed step by step (`memstrat trace replay`).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "benches/cli/session.h"
#include "kernels/allocator.h"

namespace memstrat::cli {

struct TraceEvent {
  // step_end: in a captured step, where the step's end mark fell; what follows it ran
  // between that step and the next, outside any step.
  enum class Op : std::uint8_t { allocate, deallocate, phase, step_end };
  Op op;
  std::uint32_t id = 0;  // allocate/deallocate: which buffer (numbered in allocation order)
  AllocRequest request;  // allocate/deallocate
  Phase phase = Phase::setup;
  std::uint32_t thread = 0;  // allocate, captured: the thread that asked (1, 2, ...); 0 in a dry run
};

struct Trace {
  std::string description;        // "vgg-mini b64"
  std::vector<TraceEvent> setup;  // parameters, state, workspace: allocated once, never freed in a step
  std::vector<TraceEvent> step;   // one optimizer step
  std::size_t buffers = 0;        // ids in use: 0 .. buffers-1
  std::size_t step_allocations = 0;
  // A captured trace (version 2): the steps as the program ran them, one after another,
  // each from its begin mark to the next one's (its step_end event marks its end); `step`
  // is then empty and `setup` is everything before the first step. A captured step may
  // free what setup or an earlier step allocated, and keep what it allocates, as the
  // program did. Every request's kind is `temporary`: a capture cannot know what a block is for.
  std::vector<std::vector<TraceEvent>> steps;
  nlohmann::json captured = nlohmann::json::object();  // what the capture saw (benches/cli/capture.h)
  bool is_captured() const { return !steps.empty(); }
};

// Dry-runs setup and one step of `options` (no memory is taken) and records them.
Trace record_trace(const RunOptions& options);

// The step's buffers in request order, with their lifetimes (Allocator::reserve_step).
std::vector<StepBuffer> step_buffers(const Trace& trace);

nlohmann::json trace_to_json(const Trace& trace);
// Throws std::invalid_argument naming `source` and what is wrong.
Trace trace_from_json(const nlohmann::json& json, const std::string& source);
// The same from a trace file's text (JSON).
Trace trace_from_text(const std::string& text, const std::string& source);

// How a replay plays: with its setup or without (when the real setup ran before it),
// and whether it writes every page of every buffer it takes, as the trainer does.
struct ReplayMode {
  bool setup = true;
  bool write_pages = false;
};

// Plays a trace against an allocator: setup once, then steps on demand. A step's
// buffer that the step does not free (made once, kept after) is taken on the first
// step only, as the trainer takes it. A captured trace's step `index` is its
// index-th step (std::out_of_range past the last), played once.
class Replayer {
 public:
  Replayer(const Trace& trace, Allocator& allocator, ReplayMode mode = {});
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;
  void step(int index);

 private:
  void play(const TraceEvent& event);
  const Trace& trace_;
  Allocator& allocator_;
  ReplayMode mode_;
  std::vector<void*> pointers_;
};

}  // namespace memstrat::cli
