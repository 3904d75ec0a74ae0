#include "benches/cli/trace.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <unordered_map>

#include "kernels/estimator.h"

namespace memstrat::cli {

namespace {

class Recorder final : public AllocObserver {
 public:
  explicit Recorder(Trace& trace) : trace_(trace) {}
  void on_allocate(const AllocRequest& r, const void* p) override {
    const auto id = std::uint32_t(trace_.buffers++);
    ids_[p] = id;
    target().push_back({TraceEvent::Op::allocate, id, r, Phase::setup});
    if (in_step_) ++trace_.step_allocations;
  }
  void on_deallocate(const AllocRequest& r, const void* p) override {
    const auto it = ids_.find(p);
    if (it == ids_.end()) return;  // allocated before recording began
    target().push_back({TraceEvent::Op::deallocate, it->second, r, Phase::setup});
    ids_.erase(it);
  }
  void on_step_begin(int) override { in_step_ = true; }
  void on_step_end(int) override { in_step_ = false; }
  void on_phase(Phase phase) override {
    if (in_step_) target().push_back({TraceEvent::Op::phase, 0, {}, phase});
  }

 private:
  std::vector<TraceEvent>& target() { return in_step_ ? trace_.step : trace_.setup; }
  Trace& trace_;
  std::unordered_map<const void*, std::uint32_t> ids_;
  bool in_step_ = false;
};

nlohmann::json events_json(const std::vector<TraceEvent>& events) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : events) {
    if (e.op == TraceEvent::Op::phase)
      out.push_back({"p", to_string(e.phase)});
    else if (e.op == TraceEvent::Op::step_end)
      out.push_back(nlohmann::json::array({"e"}));
    else if (e.op == TraceEvent::Op::allocate && e.thread != 0)
      out.push_back(
          {"a", e.id, e.request.bytes, e.request.align, to_string(e.request.kind), e.request.layer, e.thread});
    else if (e.op == TraceEvent::Op::allocate)
      out.push_back({"a", e.id, e.request.bytes, e.request.align, to_string(e.request.kind), e.request.layer});
    else
      out.push_back({"f", e.id});
  }
  return out;
}

}  // namespace

Trace record_trace(const RunOptions& options) {
  // The estimator's dry run, watched: the same requests a real run makes, in the same order.
  Trace trace;
  trace.description = options.model + " b" + std::to_string(options.batch);
  Recorder recorder(trace);
  const ModelSpec spec = model_spec(options);
  TechniqueSet techniques = make_techniques(options.tech);
  const Model shape_only = build_model(spec);
  const TrainOptions train = train_options(options, techniques, shape_only);
  auto store = techniques.store ? std::move(techniques.store) : std::make_unique<ActivationStore>();
  estimate_training(spec, *store, train, &recorder);
  return trace;
}

std::vector<StepBuffer> step_buffers(const Trace& trace) {
  std::vector<StepBuffer> buffers;
  std::unordered_map<std::uint32_t, std::size_t> open;  // id -> its buffer
  std::uint64_t clock = 0;
  Phase phase = Phase::forward;
  for (const TraceEvent& e : trace.step) {
    if (e.op == TraceEvent::Op::phase) {
      phase = e.phase;
    } else if (e.op == TraceEvent::Op::allocate) {
      open[e.id] = buffers.size();
      buffers.push_back({e.request, clock++, 0, phase});
    } else if (e.op == TraceEvent::Op::deallocate) {
      const auto it = open.find(e.id);
      if (it == open.end()) continue;  // a setup buffer
      buffers[it->second].returned = clock++;
      open.erase(it);
    }
  }
  for (const auto& [id, index] : open) buffers[index].returned = clock;  // kept past the step
  return buffers;
}

nlohmann::json trace_to_json(const Trace& trace) {
  if (!trace.is_captured())
    return {{"memstrat_trace", 1},
            {"description", trace.description},
            {"buffers", trace.buffers},
            {"setup", events_json(trace.setup)},
            {"step", events_json(trace.step)}};
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& step : trace.steps) steps.push_back(events_json(step));
  return {{"memstrat_trace", 2},        {"description", trace.description},  {"buffers", trace.buffers},
          {"captured", trace.captured}, {"setup", events_json(trace.setup)}, {"steps", std::move(steps)}};
}

Trace trace_from_json(const nlohmann::json& json, const std::string& source) {
  // Every field's type is checked before it is read, and what is allocated is
  // bounded by the input's own size: a hostile file gets an error, never a crash.
  auto fail = [&](const std::string& what) { return std::invalid_argument("trace " + source + ": " + what); };
  if (!json.is_object() || !json.contains("memstrat_trace") ||
      (json["memstrat_trace"] != 1 && json["memstrat_trace"] != 2))
    throw fail("not a memstrat trace (version 1 or 2)");
  const bool captured = json["memstrat_trace"] == 2;  // steps as they ran, not one step repeated
  const char* steps_key = captured ? "steps" : "step";
  for (const char* key : {"setup", steps_key})
    if (!json.contains(key) || !json[key].is_array()) throw fail(std::string("missing the \"") + key + "\" list");
  std::size_t events_in_file = json["setup"].size();
  if (captured) {
    for (const auto& step : json["steps"]) {
      if (!step.is_array()) throw fail("\"steps\" holds something that is not a list of events");
      events_in_file += step.size();
    }
    if (json["steps"].empty()) throw fail("a captured trace with no steps");
  } else {
    events_in_file += json["step"].size();
  }
  Trace trace;
  if (json.contains("description")) {
    if (!json["description"].is_string()) throw fail("\"description\" is not a string");
    trace.description = json["description"].get<std::string>();
  }
  if (captured && json.contains("captured")) {
    if (!json["captured"].is_object()) throw fail("\"captured\" is not an object");
    trace.captured = json["captured"];
  }
  if (!json.contains("buffers") || !json["buffers"].is_number_unsigned()) throw fail("\"buffers\" is not a count");
  const auto buffers = json["buffers"].get<std::uint64_t>();
  // Each buffer is allocated by one event: more buffers than events is a lie.
  if (buffers > events_in_file || buffers > (std::uint64_t(1) << 26))
    throw fail("\"buffers\" is " + std::to_string(buffers) + ", more than the trace allocates");
  trace.buffers = std::size_t(buffers);
  enum class State : std::uint8_t { unused, live_from_setup, live_from_step, freed };
  std::vector<State> state(trace.buffers, State::unused);
  std::vector<AllocRequest> requests(trace.buffers);
  auto parse = [&](const nlohmann::json& events, const std::string& key, std::vector<TraceEvent>& out, bool in_step) {
    bool ended = false;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto& e = events[i];
      const std::string where = key + "[" + std::to_string(i) + "]: ";
      if (!e.is_array() || e.empty() || !e[0].is_string()) throw fail(where + "not an event");
      const std::string op = e[0];
      if (op == "p") {
        TraceEvent ev{TraceEvent::Op::phase, 0, {}, Phase::setup};
        bool known = false;
        for (int p = 0; p < 4; ++p)
          if (e.size() == 2 && e[1].is_string() && e[1] == to_string(Phase(p))) ev.phase = Phase(p), known = true;
        if (!known) throw fail(where + "unknown phase");
        out.push_back(ev);
        continue;
      }
      if (op == "e") {
        if (!captured || !in_step || ended || e.size() != 1)
          throw fail(where + "a step's end (\"e\") belongs once in each captured step");
        ended = true;
        out.push_back({TraceEvent::Op::step_end, 0, {}, Phase::setup});
        continue;
      }
      if (e.size() < 2 || !e[1].is_number_unsigned() || e[1].get<std::uint64_t>() >= buffers)
        throw fail(where + "buffer id out of range");
      const auto id = e[1].get<std::uint32_t>();
      if (op == "a") {
        const std::size_t fields = captured ? 7 : 6;
        if ((e.size() != 6 && e.size() != fields) || !e[2].is_number_unsigned() || !e[3].is_number_unsigned() ||
            !e[4].is_string() || !e[5].is_number_integer() || (e.size() == 7 && !e[6].is_number_unsigned()))
          throw fail(where + (captured ? "an allocation is [\"a\", id, bytes, align, kind, layer, thread]"
                                       : "an allocation is [\"a\", id, bytes, align, kind, layer]"));
        AllocRequest r;
        if (e[2].get<std::uint64_t>() == 0 || e[2].get<std::uint64_t>() > (std::uint64_t(1) << 40))
          throw fail(where + "size out of range");
        if (e[3].get<std::uint64_t>() > 4096) throw fail(where + "bad alignment");
        r.bytes = e[2].get<std::size_t>();
        r.align = e[3].get<std::size_t>();
        if (r.align == 0 || (r.align & (r.align - 1)) != 0) throw fail(where + "bad alignment");
        bool kind_known = false;
        for (int k = 0; k < kBufferKindCount; ++k)
          if (e[4] == to_string(BufferKind(k))) r.kind = BufferKind(k), kind_known = true;
        if (!kind_known) throw fail(where + "unknown buffer kind");
        if (e[5].get<std::int64_t>() < -1 || e[5].get<std::int64_t>() > std::int64_t(1) << 30)
          throw fail(where + "layer out of range");
        r.layer = e[5].get<int>();
        if (state[id] != State::unused) throw fail(where + "buffer " + std::to_string(id) + " allocated twice");
        state[id] = in_step ? State::live_from_step : State::live_from_setup;
        requests[id] = r;
        TraceEvent ev{TraceEvent::Op::allocate, id, r, Phase::setup};
        if (e.size() == 7) ev.thread = std::uint32_t(std::min<std::uint64_t>(e[6].get<std::uint64_t>(), UINT32_MAX));
        out.push_back(ev);
        if (in_step) ++trace.step_allocations;
      } else if (op == "f") {
        if (e.size() != 2) throw fail(where + "a free is [\"f\", id]");
        // A repeated step may free only what it allocated itself; a captured one, anything live.
        const bool allowed = captured ? state[id] == State::live_from_setup || state[id] == State::live_from_step
                                      : state[id] == (in_step ? State::live_from_step : State::live_from_setup);
        if (!allowed)
          throw fail(where + "buffer " + std::to_string(id) +
                     (in_step && state[id] == State::live_from_setup ? " was allocated in setup, but freed in the step"
                                                                     : " freed while not live"));
        state[id] = State::freed;
        out.push_back({TraceEvent::Op::deallocate, id, requests[id], Phase::setup});
      } else {
        throw fail(where + "unknown event '" + op + "'");
      }
    }
  };
  parse(json["setup"], "setup", trace.setup, false);
  if (captured) {
    for (std::size_t i = 0; i < json["steps"].size(); ++i)
      parse(json["steps"][i], "steps[" + std::to_string(i) + "]", trace.steps.emplace_back(), true);
    return trace;
  }
  parse(json["step"], "step", trace.step, true);
  for (std::size_t id = 0; id < state.size(); ++id)
    if (state[id] == State::live_from_step)
      throw fail("buffer " + std::to_string(id) + " allocated in the step is never freed in it");
  return trace;
}

Trace trace_from_text(const std::string& text, const std::string& source) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) throw std::invalid_argument("trace " + source + ": not valid JSON (truncated?)");
  return trace_from_json(json, source);
}

Replayer::Replayer(const Trace& trace, Allocator& allocator, ReplayMode mode)
    : trace_(trace), allocator_(allocator), mode_(mode), pointers_(trace.buffers, nullptr) {
  if (!mode_.setup) return;
  allocator_.phase_begin(Phase::setup);
  for (const auto& e : trace_.setup) play(e);
}

Replayer::~Replayer() {
  // What is still held: setup's buffers and those a step made and kept.
  auto release = [&](const std::vector<TraceEvent>& events) {
    for (const auto& e : events)
      if (e.op == TraceEvent::Op::allocate && pointers_[e.id] != nullptr) {
        allocator_.deallocate(pointers_[e.id], e.request);
        pointers_[e.id] = nullptr;
      }
  };
  release(trace_.setup);
  release(trace_.step);
  for (const auto& step : trace_.steps) release(step);
}

void Replayer::play(const TraceEvent& e) {
  switch (e.op) {
    case TraceEvent::Op::allocate:
      if (pointers_[e.id] != nullptr) break;  // made by an earlier step and kept
      pointers_[e.id] = allocator_.allocate(e.request);
      if (mode_.write_pages && e.request.bytes > 0) {
        // One write per page makes it resident, as the trainer's writes do.
        auto* bytes = static_cast<volatile unsigned char*>(pointers_[e.id]);
        const std::size_t page = 4096;
        const std::size_t first = page - reinterpret_cast<std::uintptr_t>(pointers_[e.id]) % page;
        bytes[0] = 0;
        for (std::size_t at = first % page; at < e.request.bytes; at += page) bytes[at] = 0;
      }
      break;
    case TraceEvent::Op::deallocate:
      if (pointers_[e.id] == nullptr) break;  // a setup buffer, when the replay runs without setup
      allocator_.deallocate(pointers_[e.id], e.request);
      pointers_[e.id] = nullptr;
      break;
    case TraceEvent::Op::phase:
      allocator_.phase_begin(e.phase);
      break;
    case TraceEvent::Op::step_end:
      break;  // Replayer::step ends the step
  }
}

void Replayer::step(int index) {
  if (!trace_.is_captured()) {
    allocator_.step_begin(index);
    for (const auto& e : trace_.step) play(e);
    allocator_.step_end(index);
    return;
  }
  if (index < 0 || std::size_t(index) >= trace_.steps.size())
    throw std::out_of_range("the trace holds " + std::to_string(trace_.steps.size()) + " captured steps, not step " +
                            std::to_string(index));
  allocator_.step_begin(index);
  bool ended = false;
  for (const auto& e : trace_.steps[std::size_t(index)]) {
    if (e.op == TraceEvent::Op::step_end && !ended) allocator_.step_end(index), ended = true;
    play(e);
  }
  if (!ended) allocator_.step_end(index);
}

}  // namespace memstrat::cli
