#include "benches/cli/capture.h"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <unordered_map>

namespace memstrat::cli {

namespace {

// benches/probe/capture.cpp's Record, as it lies in the file.
struct Record {
  std::uint64_t t_ns;
  std::uint64_t pointer;
  std::uint64_t size;
  std::uint32_t thread;
  std::uint8_t op;
  std::uint8_t align_log2;
  std::uint16_t error;
};
static_assert(sizeof(Record) == 32);

constexpr std::uint8_t kFree = 9, kReallocFree = 10, kTrailer = 255;
constexpr std::array<const char*, 11> kOpNames = {
    "",         "malloc", "calloc",  "realloc", "posix_memalign",     "aligned_alloc",
    "memalign", "valloc", "pvalloc", "free",    "realloc (old block)"};

std::vector<Record> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("no capture file " + path + " (the capture library did not start)");
  in.seekg(0, std::ios::end);
  const auto bytes = std::size_t(in.tellg());
  in.seekg(0);
  std::vector<Record> records(bytes / sizeof(Record));  // a torn last record is left out
  in.read(reinterpret_cast<char*>(records.data()), std::streamsize(records.size() * sizeof(Record)));
  return records;
}

}  // namespace

Trace trace_from_capture(const std::string& path, const std::vector<StepSpan>& marked, const std::string& description) {
  std::vector<Record> records = read_records(path);
  nlohmann::json summary = nlohmann::json::object();
  bool complete = false;
  std::string why;
  if (!records.empty() && records.back().op == kTrailer) {
    const Record trailer = records.back();
    records.pop_back();
    complete = trailer.error == 0 && trailer.size == records.size();
    if (trailer.error == EFBIG)
      why = "the capture reached its size limit";
    else if (trailer.error != 0)
      why = fmt::format("the capture could not write ({})", std::strerror(trailer.error));
    else if (!complete)
      why = "the trailer counts other records than the file holds";
  } else {
    why = "the capture file has no trailer (the process did not exit normally)";
  }
  summary["records"] = records.size();
  summary["complete"] = complete;
  if (!complete) summary["incomplete_reason"] = why;

  // The steps the records cover: all of them when complete, else those that ended
  // before the last record.
  std::vector<StepSpan> steps = marked;
  std::sort(steps.begin(), steps.end(), [](const StepSpan& a, const StepSpan& b) { return a.begin_ns < b.begin_ns; });
  const std::uint64_t last = records.empty() ? 0 : records.back().t_ns;
  if (!complete)
    steps.erase(std::remove_if(steps.begin(), steps.end(), [&](const StepSpan& s) { return s.end_ns > last; }),
                steps.end());
  summary["steps_marked"] = marked.size();
  summary["steps"] = steps.size();
  if (steps.empty())
    throw std::runtime_error(marked.empty() ? "the capture has no marked steps to replay (mark them: MEMSTRAT_STEP_FD)"
                                            : "the capture stopped before the first marked step ended: " + why);

  Trace trace;
  trace.description = description;
  trace.steps.resize(steps.size());
  std::unordered_map<std::uint64_t, std::uint32_t> live;  // block -> buffer id
  std::unordered_map<std::uint32_t, AllocRequest> requests;
  std::array<std::uint64_t, 11> calls{};
  std::set<std::uint32_t> threads;
  std::uint64_t unknown_frees = 0, unseen_frees = 0, clamped = 0, dropped_after = 0;
  std::size_t step = 0;  // the step the next record may fall in
  bool ended = false;    // whether the current step's end mark has been placed
  for (const Record& r : records) {
    if (r.op == 0 || r.op > kReallocFree) continue;  // not ours: skipped
    ++calls[r.op];
    // Where it falls: setup, a step (before or after its end mark), or after the last.
    while (step < steps.size() && step + 1 < steps.size() && r.t_ns >= steps[step + 1].begin_ns) ++step, ended = false;
    const bool in_setup = r.t_ns < steps.front().begin_ns;
    if (!in_setup && step + 1 == steps.size() && r.t_ns >= steps.back().end_ns) {
      ++dropped_after;
      continue;
    }
    std::vector<TraceEvent>& out = in_setup ? trace.setup : trace.steps[step];
    if (!in_setup && !ended && r.t_ns >= steps[step].end_ns) {
      out.push_back({TraceEvent::Op::step_end, 0, {}, Phase::setup});
      ended = true;
    }
    const bool in_step = !in_setup && !ended;
    if (r.op == kFree || r.op == kReallocFree) {
      const auto it = live.find(r.pointer);
      if (it == live.end()) {
        ++unknown_frees;
        continue;
      }
      out.push_back({TraceEvent::Op::deallocate, it->second, requests[it->second], Phase::setup});
      requests.erase(it->second);
      live.erase(it);
      continue;
    }
    if (const auto it = live.find(r.pointer); it != live.end()) {
      // Handed out again without a free the capture saw (freed by a path it does not
      // interpose): the old block is freed here.
      ++unseen_frees;
      out.push_back({TraceEvent::Op::deallocate, it->second, requests[it->second], Phase::setup});
      requests.erase(it->second);
      live.erase(it);
    }
    AllocRequest request;
    request.bytes = std::max<std::uint64_t>(r.size, 1);
    std::size_t align = std::size_t(1) << std::min<unsigned>(r.align_log2, 62);
    if (align > 4096) align = 4096, ++clamped;
    request.align = std::max<std::size_t>(align, 1);
    request.kind = BufferKind::temporary;
    request.layer = -1;
    const auto id = std::uint32_t(trace.buffers++);
    TraceEvent event{TraceEvent::Op::allocate, id, request, Phase::setup};
    event.thread = std::max<std::uint32_t>(r.thread, 1);
    threads.insert(event.thread);
    out.push_back(event);
    if (in_step) ++trace.step_allocations;
    live[r.pointer] = id;
    requests[id] = request;
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const bool has_end = std::any_of(trace.steps[i].begin(), trace.steps[i].end(),
                                     [](const TraceEvent& e) { return e.op == TraceEvent::Op::step_end; });
    if (!has_end) trace.steps[i].push_back({TraceEvent::Op::step_end, 0, {}, Phase::setup});
  }
  nlohmann::json by_function = nlohmann::json::object();
  for (std::size_t op = 1; op < calls.size(); ++op)
    if (calls[op] > 0) by_function[kOpNames[op]] = calls[op];
  summary["calls"] = by_function;
  summary["threads"] = threads.size();
  summary["frees_of_blocks_from_before_the_capture"] = unknown_frees;
  summary["blocks_reused_without_a_seen_free"] = unseen_frees;
  summary["alignments_clamped_to_4096"] = clamped;
  summary["calls_after_the_last_step"] = dropped_after;
  summary["first_step_index"] = steps.front().index;
  trace.captured = summary;
  return trace;
}

TraceLive trace_live_bytes(const Trace& trace) {
  TraceLive live;
  std::unordered_map<std::uint32_t, std::size_t> sizes;
  std::size_t now = 0;
  auto play = [&](const TraceEvent& e) {
    if (e.op == TraceEvent::Op::allocate) {
      sizes[e.id] = e.request.bytes, now += e.request.bytes;
    } else if (e.op == TraceEvent::Op::deallocate) {
      if (const auto it = sizes.find(e.id); it != sizes.end()) now -= it->second, sizes.erase(it);
    }
  };
  for (const auto& e : trace.setup) play(e);
  live.at_first_step = live.step_peak = now;
  const std::vector<std::vector<TraceEvent>> one = {trace.step};
  for (const auto& step : trace.is_captured() ? trace.steps : one)
    for (const auto& e : step) {
      play(e);
      live.step_peak = std::max(live.step_peak, now);
    }
  return live;
}

}  // namespace memstrat::cli
