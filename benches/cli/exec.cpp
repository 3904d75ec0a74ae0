#include "benches/cli/exec.h"

#include <elf.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "benches/cli/capture.h"
#include "benches/cli/record.h"
#include "strategies/registry.h"

namespace memstrat::cli {

namespace fs = std::filesystem;

namespace {

// The program's probe, built beside memstrat (CMakeLists.txt).
std::string probe_library() {
  const char* given = std::getenv("MEMSTRAT_PROBE");  // a build tree moved elsewhere
  return given != nullptr && *given != '\0' ? given : MEMSTRAT_PROBE_PATH;
}

// The capture library, built beside the probe.
std::string capture_library() {
  const char* given = std::getenv("MEMSTRAT_CAPTURE");  // a build tree moved elsewhere
  return given != nullptr && *given != '\0' ? given : MEMSTRAT_CAPTURE_PATH;
}

std::string real_path(const std::string& path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) != nullptr ? resolved : path;
}

// The shared object that serves malloc when nothing is preloaded: the C library.
bool is_libc(const std::string& path) { return fs::path(path).filename().string().rfind("libc.so", 0) == 0; }

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// What the probe wrote, one JSON object per line; unreadable lines are skipped.
std::vector<nlohmann::json> read_events(const std::string& path) {
  std::vector<nlohmann::json> events;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    auto event = nlohmann::json::parse(line, nullptr, false);
    if (event.is_object() && event.contains("event")) events.push_back(std::move(event));
  }
  return events;
}

// The ELF file's obstacle to preloading, or empty.
std::string elf_obstacle(const std::string& path, const unsigned char* data, std::size_t size) {
  if (size < sizeof(Elf64_Ehdr) || data[EI_CLASS] != ELFCLASS64) return "";  // not ours to judge
  Elf64_Ehdr header;
  std::memcpy(&header, data, sizeof header);
  bool dynamic = false;
  for (int i = 0; i < header.e_phnum; ++i) {
    const std::size_t at = header.e_phoff + std::size_t(i) * header.e_phentsize;
    if (at + sizeof(Elf64_Phdr) > size) break;
    Elf64_Phdr ph;
    std::memcpy(&ph, data + at, sizeof ph);
    dynamic = dynamic || ph.p_type == PT_INTERP;
  }
  if (!dynamic && header.e_type == ET_EXEC)
    return path + " is a static binary: the dynamic loader never runs, so no library can be preloaded into it";
  if (!dynamic && header.e_type == ET_DYN && header.e_entry != 0) {
    // A static-pie binary, or a shared object run directly: either way no loader reads LD_PRELOAD.
    return path + " has no program interpreter (static-pie): no library can be preloaded into it";
  }
  // A sanitizer's runtime owns malloc and must come first: its entry point names it,
  // in the dynamic symbols of a program linked with it or one that imports it.
  for (const char* runtime : {"__asan_init", "__hwasan_init", "__tsan_init", "__msan_init"})
    if (::memmem(data, size, runtime, std::strlen(runtime)) != nullptr)
      return fmt::format(
          "{} is built with a sanitizer ({}): its runtime owns malloc and nothing can be preloaded "
          "in front of it",
          path, runtime);
  return "";
}

}  // namespace

std::string exec_label(const std::vector<std::string>& command) {
  if (command.empty()) return "command";
  std::string program = fs::path(command[0]).filename().string();
  // An interpreter names less than its script: "python3 train.py" is "train".
  static const std::set<std::string> interpreters = {"python", "python3", "sh", "bash", "perl", "ruby", "node", "env"};
  const bool interpreter = interpreters.count(program) > 0 || program.rfind("python3.", 0) == 0;
  if (interpreter)
    for (std::size_t i = 1; i < command.size(); ++i) {
      if (command[i] == "-c") break;  // code on the command line: the interpreter's name stands
      if (command[i] == "-m" && i + 1 < command.size()) {
        program = command[i + 1];
        break;
      }
      if (!command[i].empty() && command[i][0] != '-') {
        program = fs::path(command[i]).stem().string();
        break;
      }
    }
  std::string label;
  for (const char c : program) label += std::isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' ? c : '_';
  return label.empty() ? "command" : label;
}

std::string exec_record_name(const ExecCell& cell) {
  return "exec/" + (cell.label.empty() ? exec_label(cell.command) : cell.label) + "/" + cell.alloc;
}

nlohmann::json exec_config(const ExecCell& cell) {
  nlohmann::json c = {{"command", cell.command},
                      {"alloc", cell.alloc},
                      {"label", cell.label.empty() ? exec_label(cell.command) : cell.label}};
  if (cell.batch > 0) c["batch"] = cell.batch;
  if (!cell.capture.empty()) c["capture"] = cell.capture;
  return c;
}

std::string exec_allocator_library(const std::string& alloc) {
  const auto [name, option] = split_spec(alloc);
  for (const auto& entry : allocator_entries()) {
    if (entry.name != name) continue;
    if (name == "malloc") {
      refuse_option("allocator", name, option);
      return "";
    }
    if (!entry.process_wide)
      throw SpecError(
          fmt::format("'{}' is a strategy of memstrat's own kernel, not a process-wide allocator: exec "
                      "can preload {} into a program",
                      alloc, kExecDefaultAllocs));
    if (name == "preload") {
      std::string path(option);
      if (path.empty()) throw SpecError("preload needs the library's path: preload:/path/to/libfoo.so");
      if (!fs::is_regular_file(path)) throw SpecError("preload:" + path + ": no such library");
      return path;
    }
    refuse_option("allocator", name, option);
    if (entry.library.empty())
      throw SpecError(
          fmt::format("{} was not found when memstrat was built: install it (scripts/setup.sh) and "
                      "rebuild",
                      name));
    return std::string(entry.library);
  }
  // Names no strategy at all: the registry's own message lists them.
  make_allocator(alloc);
  throw SpecError("unknown allocator '" + alloc + "'");
}

std::string resolve_program(const std::string& word) {
  auto check = [&](const std::string& path) {
    if (fs::is_directory(path)) throw std::runtime_error(word + " is a directory, not a program");
    if (::access(path.c_str(), X_OK) != 0) throw std::runtime_error(word + " is not executable (chmod +x?)");
    return path;
  };
  if (word.empty()) throw std::runtime_error("the command is empty");
  if (word.find('/') != std::string::npos) {
    if (!fs::exists(word)) throw std::runtime_error("command not found: " + word + ": no such file");
    return check(word);
  }
  const char* path_env = std::getenv("PATH");
  std::istringstream dirs(path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + word;
    if (fs::is_regular_file(candidate) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error("command not found: " + word + " (not in PATH)");
}

std::string preload_obstacle(const std::string& program) {
  std::string path = program;
  for (int depth = 0; depth < 4; ++depth) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "";
    // The loader ignores LD_PRELOAD in secure-execution mode: a set-user or set-group
    // ID program that would change who runs it.
    if ((st.st_mode & S_ISUID) && st.st_uid != ::getuid())
      return path + " is setuid: the dynamic loader ignores LD_PRELOAD for it (secure-execution mode)";
    if ((st.st_mode & S_ISGID) && st.st_gid != ::getgid())
      return path + " is setgid: the dynamic loader ignores LD_PRELOAD for it (secure-execution mode)";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "";
    const std::size_t size = std::size_t(st.st_size);
    void* map = size > 0 ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    ::close(fd);
    if (map == MAP_FAILED) return "";
    const auto* data = static_cast<const unsigned char*>(map);
    std::string answer, next;
    if (size >= 4 && std::memcmp(data, ELFMAG, SELFMAG) == 0) {
      answer = elf_obstacle(path, data, size);
    } else if (size >= 2 && data[0] == '#' && data[1] == '!') {
      // A script: the interpreter is what runs, the first word after #!, or env's argument.
      const std::string first(reinterpret_cast<const char*>(data) + 2,
                              std::find(data + 2, data + std::min<std::size_t>(size, 256), '\n') - (data + 2));
      std::istringstream words(first);
      std::string interpreter, argument;
      words >> interpreter >> argument;
      try {
        next = fs::path(interpreter).filename() == "env" && !argument.empty() ? resolve_program(argument)
                                                                              : resolve_program(interpreter);
      } catch (const std::exception&) {
        next.clear();  // the kernel will say so when it runs
      }
    }
    ::munmap(map, size);
    if (!answer.empty() || next.empty()) return answer;
    path = next;
  }
  return "";
}

nlohmann::json exec_failure_record(const ExecCell& cell, RunStatus status, const std::string& reason) {
  nlohmann::json r = failure_record(exec_record_name(cell), exec_config(cell), status, reason);
  r["allocator"] = cell.alloc;
  r["command"] = cell.command;
  return r;
}

nlohmann::json exec_once(const ExecCell& cell, const std::string& program, const std::string& obstacle,
                         const Limits& limits, const std::string& work_dir, bool keep_timeline) {
  const std::string library = exec_allocator_library(cell.alloc);
  if (!obstacle.empty() && !library.empty()) return exec_failure_record(cell, RunStatus::crash, "refused: " + obstacle);

  const std::string events_path = work_dir + "/probe.jsonl", err_path = work_dir + "/stderr",
                    out_path = work_dir + "/stdout";
  fs::remove(events_path);
  const bool capturing = !cell.capture.empty() && obstacle.empty();
  const std::string capture_path = work_dir + "/capture.bin";
  fs::remove(capture_path);
  ChildSetup setup;
  setup.sample_ms = 10;
  // The workload's step marks go into a pipe whose other end the probe reads, inside it.
  int marks[2] = {-1, -1};
  if (obstacle.empty()) {
    if (::pipe2(marks, O_CLOEXEC) != 0)
      return exec_failure_record(cell, RunStatus::crash, std::string("cannot make a pipe: ") + std::strerror(errno));
    setup.inherit_fds = {marks[0], marks[1]};
    // The capture library goes first, so that its malloc is the one the program calls.
    setup.env = {"LD_PRELOAD=" + (capturing ? capture_library() + " " : "") + (library.empty() ? "" : library + " ") +
                     probe_library(),
                 "MEMSTRAT_PROBE_OUT=" + events_path, "MEMSTRAT_STEP_FD=" + std::to_string(marks[1]),
                 "MEMSTRAT_PROBE_STEP_RFD=" + std::to_string(marks[0])};
    if (capturing) {
      setup.env.push_back("MEMSTRAT_CAPTURE_OUT=" + capture_path);
      setup.env.push_back("MEMSTRAT_CAPTURE_LIMIT=" + std::to_string(cell.capture_limit_bytes));
    }
  }
  std::vector<std::string> argv = cell.command;
  argv[0] = program;
  const Outcome outcome = supervise(argv, limits, out_path, err_path, setup);
  for (const int fd : marks)
    if (fd >= 0) ::close(fd);

  nlohmann::json r = outcome.status == RunStatus::ok ? nlohmann::json::object()
                                                     : exec_failure_record(cell, outcome.status, outcome.reason);
  if (outcome.status == RunStatus::ok) {
    const std::string name = exec_record_name(cell);
    r = {{"name", name},
         {"run_name", name},
         {"run_type", "iteration"},
         {"status", "ok"},
         {"config", exec_config(cell)},
         {"allocator", cell.alloc},
         {"command", cell.command}};
  }
  if (outcome.exit_code >= 0) r["exit_code"] = outcome.exit_code;
  if (outcome.signal != 0) r["exit_signal"] = outcome.signal;
  r["wall_s"] = outcome.wall_s;
  r["cpu_s"] = outcome.cpu_s;
  r["minor_faults"] = outcome.minor_faults;
  r["major_faults"] = outcome.major_faults;
  r["budget_enforcement"] = outcome.enforcement;
  if (outcome.cgroup_peak_bytes) r["cgroup_peak_bytes"] = *outcome.cgroup_peak_bytes;
  r["tree_peak_rss_bytes"] = outcome.tree_peak_rss_bytes;

  // What the probe saw: the process memstrat started (the leader; its last start event
  // is the program it finally exec'd into), its step marks, and the other processes.
  std::vector<std::string> notes;
  if (!obstacle.empty()) notes.push_back("nothing preloaded: " + obstacle + "; whole-process figures only");
  const std::vector<nlohmann::json> events = read_events(events_path);
  const nlohmann::json* start = nullptr;
  const nlohmann::json* exit = nullptr;
  std::map<long, const nlohmann::json*> begins, ends;
  std::set<int> pids;
  int leader = -1;
  for (const auto& e : events) {
    pids.insert(e.value("pid", -1));
    if (e["event"] == "start" && e.value("leader", false)) start = &e, leader = e.value("pid", -1);
  }
  int children_reported = 0;
  for (const auto& e : events) {
    const bool mine = e.value("pid", -2) == leader;
    const std::string kind = e["event"];
    if (kind == "start" && !mine) ++children_reported;
    if (!mine) continue;
    if (kind == "exit") exit = &e;
    if (kind == "begin") begins[e.value("index", -1L)] = &e;
    if (kind == "end") ends[e.value("index", -1L)] = &e;
    if (kind == "bad_mark") notes.push_back("a step mark it could not read: '" + e.value("text", "") + "'");
  }
  // A forked child that does not exec runs no probe constructor: the supervisor's
  // samples of the process tree are what count it.
  const int processes = std::max({outcome.processes_seen, int(pids.size()), children_reported + 1});
  r["processes"] = processes;
  if (processes > 1)
    notes.push_back(
        fmt::format("{} other process{} ran under the command: their memory is in tree_peak_rss_bytes, "
                    "not in peak_rss_bytes",
                    processes - 1, processes == 2 ? "" : "es"));

  auto fail = [&r](const std::string& why) {
    r["status"] = "crash", r["reason"] = why, r["error_occurred"] = true, r["error_message"] = why;
  };
  if (start != nullptr) {
    const std::string provider = real_path(start->value("malloc_from", ""));
    r["malloc_provider"] = provider;
    const bool served = library.empty() ? is_libc(provider) : provider == real_path(library);
    if (!served && r["status"] == "ok") {
      const std::string why = fmt::format("malloc was served by {}, not by {}", provider,
                                          library.empty() ? std::string("the C library") : real_path(library));
      fail(why);
    }
  } else if (obstacle.empty()) {
    const std::string why =
        "the probe never reported from the command's process (does it clear LD_PRELOAD, or exec under another "
        "process group?)";
    notes.push_back(why);
    if (!library.empty() && r["status"] == "ok") {
      const std::string reason = "nothing shows that " + cell.alloc + " served malloc: " + why;
      fail(reason);
    }
  }

  // Peak RSS: the leader's VmHWM, from its first step mark when it marks steps (as `run`
  // resets it after setup), over its whole life else; the sampler where it died unseen.
  std::vector<long> steps;
  for (const auto& [index, end] : ends)
    if (begins.count(index)) steps.push_back(index);
  if (exit != nullptr) {
    if (!steps.empty()) {
      std::size_t peak = exit->value("hwm", std::size_t(0));  // since the last begin
      for (const auto& [index, begin] : begins)
        if (index != begins.begin()->first) peak = std::max(peak, begin->value("hwm", std::size_t(0)));
      r["peak_rss_bytes"] = peak;
      r["peak_rss_source"] = "VmHWM from the first step mark (probe)";
    } else {
      r["peak_rss_bytes"] = exit->value("peak", std::size_t(0));
      r["peak_rss_source"] = "VmHWM over the whole process (probe at exit)";
    }
  } else if (outcome.tree_peak_rss_bytes > 0) {
    r["peak_rss_bytes"] = outcome.tree_peak_rss_bytes;
    r["peak_rss_source"] = "sampler (the process tree, every 10 ms: the process ended before its probe reported)";
  }

  // Steps: time between each begin and end mark, each step's peak, the allocator's
  // view in the step whose peak was highest (else over the run).
  const nlohmann::json* view = exit;
  if (!steps.empty()) {
    std::vector<double> times, measured;
    std::vector<std::size_t> peaks;
    std::size_t highest = 0;
    for (const long index : steps) {
      const double ms = (ends[index]->value("t_ns", 0.0) - begins[index]->value("t_ns", 0.0)) / 1e6;
      times.push_back(ms);
      const std::size_t hwm = ends[index]->value("hwm", std::size_t(0));
      peaks.push_back(hwm);
      if (hwm >= highest) highest = hwm, view = ends[index];
    }
    const int warmup = int(times.size()) > cell.warmup ? cell.warmup : 0;
    if (warmup == 0 && cell.warmup > 0)
      notes.push_back(fmt::format("{} marked step{} and {} warm-up: every step is timed", times.size(),
                                  times.size() == 1 ? "" : "s", cell.warmup));
    measured.assign(times.begin() + warmup, times.end());
    r["warmup_steps"] = warmup;
    r["iterations"] = measured.size();
    r["step_times_ms"] = measured;
    r["step_ms"] = median_of(measured);
    r["real_time"] = r["step_ms"];
    r["time_unit"] = "ms";
    r["step_peak_rss_bytes"] = peaks;
    r["baseline_rss_bytes"] = begins[steps.front()]->value("rss", std::size_t(0));
    if (cell.batch > 0) r["samples_per_s"] = double(cell.batch) / (r["step_ms"].get<double>() / 1e3);
  } else if (start != nullptr) {
    notes.emplace_back("no step marks (MEMSTRAT_STEP_FD): whole-process figures only");
  }
  if (view != nullptr) {
    // At the allocator's highest demand the probe's thread saw in that step (or the run), else at its end.
    const bool at_peak = view->value("peak_view_rss", 0LL) > 0;
    const long long reserved = view->value(at_peak ? "peak_reserved" : "reserved", -1LL),
                    allocated = view->value(at_peak ? "peak_allocated" : "allocated", -1LL);
    if (reserved >= 0) r["allocator_reserved_bytes"] = reserved;
    if (allocated >= 0) r["allocator_allocated_bytes"] = allocated;
    if (reserved > 0 && allocated >= 0)
      r["fragmentation"] = 1.0 - double(std::min(allocated, reserved)) / double(reserved);
    else if (reserved > 0)
      notes.push_back(view->value("view", std::string("the allocator")) +
                      " gives no allocated count: no fragmentation");
  }
  if (keep_timeline && !outcome.timeline.empty()) {
    // At most 2048 points, each the largest of the samples it stands for.
    const std::size_t stride = (outcome.timeline.size() + 2047) / 2048;
    std::vector<double> t_ms, step_end_ms;
    std::vector<std::size_t> rss;
    for (std::size_t i = 0; i < outcome.timeline.size(); i += stride) {
      std::size_t most = 0;
      for (std::size_t j = i; j < std::min(i + stride, outcome.timeline.size()); ++j)
        most = std::max(most, outcome.timeline[j].rss_bytes);
      t_ms.push_back(outcome.timeline[i].t_ms);
      rss.push_back(most);
    }
    for (const long index : steps)
      step_end_ms.push_back((ends[index]->value("t_ns", 0.0) - outcome.start_monotonic_ns) / 1e6);
    r["rss_timeline"] = {{"t_ms", t_ms}, {"rss_bytes", rss}, {"step_end_ms", step_end_ms}};
  }
  if (capturing) {
    // The calls, placed in the marked steps, written as a trace for `trace replay`; the
    // run's own figures go with it, so that a replay can be read against them.
    nlohmann::json summary = {{"trace", cell.capture}};
    try {
      std::vector<StepSpan> spans;
      for (const long index : steps)
        spans.push_back(
            {index, begins[index]->value("t_ns", std::uint64_t(0)), ends[index]->value("t_ns", std::uint64_t(0))});
      Trace trace = trace_from_capture(capture_path, spans, exec_record_name(cell));
      std::error_code ignored;
      summary["capture_file_bytes"] = fs::file_size(capture_path, ignored);
      trace.captured["command"] = cell.command;
      trace.captured["alloc"] = cell.alloc;
      trace.captured["status"] = r["status"];
      for (const char* key :
           {"peak_rss_bytes", "baseline_rss_bytes", "step_peak_rss_bytes", "step_ms", "malloc_provider"})
        if (r.contains(key)) trace.captured["run_" + std::string(key)] = r[key];
      summary.update(trace.captured);
      summary.erase("command");
      write_file_atomically(cell.capture, trace_to_json(trace).dump() + "\n", "trace file");
      summary["trace_bytes"] = fs::file_size(cell.capture, ignored);
      if (!trace.captured.value("complete", false))
        notes.push_back("the capture is incomplete: " + trace.captured.value("incomplete_reason", std::string("?")));
    } catch (const std::exception& e) {
      summary["error"] = e.what();
      notes.push_back(std::string("no trace written: ") + e.what());
    }
    r["capture"] = summary;
  } else if (!cell.capture.empty()) {
    r["capture"] = {{"trace", cell.capture}, {"error", "nothing can be preloaded: " + obstacle}};
  }
  if (!notes.empty()) {
    std::string text;
    for (const auto& n : notes) text += (text.empty() ? "" : "; ") + n;
    r["probe_note"] = text;
  }
  return r;
}

}  // namespace memstrat::cli
