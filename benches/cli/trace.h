// Allocation traces: the allocate/free sequence of one training step, with
// what each request is for, recorded from a dry run of the real trainer and
// replayed against any strategy (memstrat-micro's replay benchmarks).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "benches/cli/session.h"
#include "kernels/allocator.h"

namespace memstrat::cli {

struct TraceEvent {
  enum class Op : std::uint8_t { allocate, deallocate, phase };
  Op op;
  std::uint32_t id = 0;  // allocate/deallocate: which buffer (numbered in allocation order)
  AllocRequest request;  // allocate/deallocate
  Phase phase = Phase::setup;
};

struct Trace {
  std::string description;        // "vgg-mini b64"
  std::vector<TraceEvent> setup;  // parameters, state, workspace: allocated once, never freed in a step
  std::vector<TraceEvent> step;   // one optimizer step
  std::size_t buffers = 0;        // ids in use: 0 .. buffers-1
  std::size_t step_allocations = 0;
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
// step only, as the trainer takes it.
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
