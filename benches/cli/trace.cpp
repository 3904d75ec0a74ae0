#include "benches/cli/trace.h"

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
    if (e.op == TraceEvent::Op::phase) out.push_back({"p", to_string(e.phase)});
    else if (e.op == TraceEvent::Op::allocate)
      out.push_back({"a", e.id, e.request.bytes, e.request.align, to_string(e.request.kind), e.request.layer});
    else out.push_back({"f", e.id});
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

nlohmann::json trace_to_json(const Trace& trace) {
  return {{"memstrat_trace", 1}, {"description", trace.description}, {"buffers", trace.buffers},
          {"setup", events_json(trace.setup)}, {"step", events_json(trace.step)}};
}

Trace trace_from_json(const nlohmann::json& json, const std::string& source) {
  auto fail = [&](const std::string& what) { return std::invalid_argument("trace " + source + ": " + what); };
  if (!json.is_object() || json.value("memstrat_trace", 0) != 1) throw fail("not a memstrat trace (version 1)");
  Trace trace;
  trace.description = json.value("description", "");
  const auto buffers = json.value("buffers", std::size_t(0));
  if (buffers > (std::size_t(1) << 24)) throw fail("too many buffers");
  trace.buffers = buffers;
  std::vector<int> live(buffers, 0);  // 0 never allocated, 1 live, 2 freed
  auto parse = [&](const char* key, std::vector<TraceEvent>& out, bool in_step) {
    if (!json.contains(key) || !json[key].is_array()) throw fail(std::string("missing the \"") + key + "\" list");
    for (std::size_t i = 0; i < json[key].size(); ++i) {
      const auto& e = json[key][i];
      const std::string where = std::string(key) + "[" + std::to_string(i) + "]: ";
      if (!e.is_array() || e.empty() || !e[0].is_string()) throw fail(where + "not an event");
      const std::string op = e[0];
      if (op == "p") {
        static const char* names[] = {"setup", "forward", "backward", "optimizer"};
        TraceEvent ev{TraceEvent::Op::phase, 0, {}, Phase::setup};
        bool known = false;
        for (int p = 0; p < 4; ++p)
          if (e.size() == 2 && e[1].is_string() && e[1] == names[p]) ev.phase = Phase(p), known = true;
        if (!known) throw fail(where + "unknown phase");
        out.push_back(ev);
        continue;
      }
      if (e.size() < 2 || !e[1].is_number_unsigned() || e[1].get<std::size_t>() >= buffers)
        throw fail(where + "buffer id out of range");
      const auto id = e[1].get<std::uint32_t>();
      if (op == "a") {
        if (e.size() != 6 || !e[2].is_number_unsigned() || !e[3].is_number_unsigned() || !e[4].is_string() ||
            !e[5].is_number_integer())
          throw fail(where + "an allocation is [\"a\", id, bytes, align, kind, layer]");
        AllocRequest r;
        r.bytes = e[2];
        r.align = e[3];
        if (r.bytes == 0 || r.bytes > (std::size_t(1) << 40)) throw fail(where + "size out of range");
        if (r.align == 0 || (r.align & (r.align - 1)) != 0 || r.align > 4096) throw fail(where + "bad alignment");
        bool kind_known = false;
        for (int k = 0; k < kBufferKindCount; ++k)
          if (e[4] == to_string(BufferKind(k))) r.kind = BufferKind(k), kind_known = true;
        if (!kind_known) throw fail(where + "unknown buffer kind");
        r.layer = e[5];
        if (live[id] != 0) throw fail(where + "buffer " + std::to_string(id) + " allocated twice");
        live[id] = 1;
        out.push_back({TraceEvent::Op::allocate, id, r, Phase::setup});
        if (in_step) ++trace.step_allocations;
      } else if (op == "f") {
        if (live[id] != 1) throw fail(where + "buffer " + std::to_string(id) + " freed while not live");
        live[id] = 2;
        TraceEvent ev{TraceEvent::Op::deallocate, id, {}, Phase::setup};
        for (const auto& earlier : out)
          if (earlier.op == TraceEvent::Op::allocate && earlier.id == id) ev.request = earlier.request;
        out.push_back(ev);
      } else {
        throw fail(where + "unknown event '" + op + "'");
      }
    }
  };
  parse("setup", trace.setup, false);
  parse("step", trace.step, true);
  for (const auto& e : trace.step)
    if (e.op == TraceEvent::Op::allocate && live[e.id] == 1)
      throw fail("buffer " + std::to_string(e.id) + " allocated in the step is never freed in it");
  return trace;
}

Replayer::Replayer(const Trace& trace, Allocator& allocator)
    : trace_(trace), allocator_(allocator), pointers_(trace.buffers, nullptr) {
  allocator_.phase_begin(Phase::setup);
  for (const auto& e : trace_.setup) play(e);
}

Replayer::~Replayer() {
  for (const auto& e : trace_.setup)
    if (e.op == TraceEvent::Op::allocate && pointers_[e.id] != nullptr) allocator_.deallocate(pointers_[e.id], e.request);
}

void Replayer::play(const TraceEvent& e) {
  switch (e.op) {
    case TraceEvent::Op::allocate: pointers_[e.id] = allocator_.allocate(e.request); break;
    case TraceEvent::Op::deallocate:
      allocator_.deallocate(pointers_[e.id], e.request);
      pointers_[e.id] = nullptr;
      break;
    case TraceEvent::Op::phase: allocator_.phase_begin(e.phase); break;
  }
}

void Replayer::step(int index) {
  allocator_.step_begin(index);
  for (const auto& e : trace_.step) play(e);
  allocator_.step_end(index);
}

}  // namespace memstrat::cli
