#include "benches/cli/suite_config.h"

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <toml++/toml.h>

#include "benches/cli/record.h"
#include "benches/cli/units.h"
#include "kernels/models.h"
#include "strategies/registry.h"
#include "strategies/techniques.h"

namespace memstrat::cli {

namespace {

const char* const kAllAllocators = R"(["malloc", "jemalloc", "mimalloc", "tcmalloc", "arena", "arena:separate",
  "pool", "pool:first", "pool:worst", "mmap", "planned"])";

// The presets, in the same form a config file takes.
nlohmann::json preset_json(const std::string& name) {
  nlohmann::json all;
  for (const auto& spec : nlohmann::json::parse(kAllAllocators))  // less those this build cannot run (sanitizers)
    if (refused_in_this_build(spec.get<std::string>()).empty()) all.push_back(spec);
  if (name == "quick") {
    // Under a minute: a small vgg-mini, every allocator, every technique once.
    return {
        {"repeats", 2},
        {"steps", 3},
        {"warmup", 1},
        {"timeout", 120},
        {"matrix",
         {{{"models", {"vgg-mini"}}, {"image", 16}, {"batches", {8}}, {"allocators", all}, {"techniques", {"none"}}},
          {{"models", {"vgg-mini"}},
           {"image", 16},
           {"batches", {8}},
           {"allocators", {"malloc"}},
           {"techniques", {"fp16", "bf16", "accum:2", "recompute", "offload", "bf16,recompute"}}}}}};
  }
  if (name == "default") {
    // What `make bench` runs: on a clean clone here 8 min 46 s with the build, the suite
    // 319 s (2 cores, results/vm-2026-12-03.json): every allocator on vgg-mini, and every technique under glibc and the
    // caching pool; the allocators that differ on VGG16 at 32x32 batch 8, whose 400 MiB of
    // weights, gradients and momentum are what training runs out of memory on (pool:first,
    // pool:worst and arena:separate are vgg-mini's); the techniques on a 16-layer conv stack
    // whose saved activations are the larger part, with pool beside glibc on the plain and
    // recomputed runs. Three repeats, so that a cell's median is not the mean of two that
    // disagree; one warmup step, as the pools and the plan fill on the first step.
    const nlohmann::json vgg16_allocators = {"malloc", "jemalloc", "mimalloc", "tcmalloc",
                                             "arena",  "pool",     "mmap",     "planned"};
    return {{"repeats", 3},
            {"steps", 5},
            {"warmup", 1},
            {"timeout", 300},
            {"matrix",
             {{{"models", {"vgg-mini"}}, {"batches", {64}}, {"allocators", all}, {"techniques", {"none"}}},
              {{"models", {"vgg-mini"}},
               {"batches", {64}},
               {"allocators", {"malloc", "pool"}},
               {"techniques", {"fp16", "bf16", "accum:4", "recompute", "offload", "bf16,recompute", "bf16,accum:4"}}},
              {{"models", {"vgg16"}},
               {"image", 32},
               {"batches", {8}},
               {"allocators", vgg16_allocators},
               {"techniques", {"none"}}},
              {{"models", {"deepconv:16"}},
               {"channels", 32},
               {"batches", {32}},
               {"allocators", {"malloc"}},
               {"techniques", {"none", "bf16", "accum:4", "recompute", "offload"}}},
              {{"models", {"deepconv:16"}},
               {"channels", 32},
               {"batches", {32}},
               {"allocators", {"pool"}},
               {"techniques", {"none", "recompute"}}}}}};
  }
  if (name == "full") {
    // For a night: more batches, VGG16 at 224, every allocator with every technique.
    return {
        {"repeats", 5},
        {"steps", 10},
        {"warmup", 2},
        {"timeout", 1800},
        {"matrix",
         {{{"models", {"vgg-mini"}},
           {"batches", {32, 128}},
           {"allocators", all},
           {"techniques",
            {"none", "fp16", "bf16", "accum:4", "recompute", "offload", "bf16,recompute", "bf16,accum:4"}}},
          {{"models", {"vgg16"}}, {"batches", {8}}, {"allocators", all}, {"techniques", {"none", "bf16", "recompute"}}},
          {{"models", {"deepconv:32"}},
           {"channels", 64},
           {"batches", {64}},
           {"allocators", all},
           {"techniques", {"none", "bf16", "accum:4", "recompute", "offload", "bf16,recompute"}}}}}};
  }
  if (name == "torch") {
    // PyTorch beside the kernel: vgg-mini batch 64 and VGG16 at 32x32 batch 16 under
    // every process-wide allocator, trained by the kernel and by workloads/torch_train.py
    // (the same weights, data, loss and optimizer), each a cell of its own; the first
    // step of each is warmup.
    const nlohmann::json process_wide = {"malloc", "jemalloc", "mimalloc", "tcmalloc"};
    const std::string script = std::string(MEMSTRAT_SOURCE_DIR) + "/workloads/torch_train.py";
    const auto torch_cells = [&](const std::string& label, const nlohmann::json& model_args, int batch) {
      nlohmann::json command = {"/usr/bin/python3", script};
      for (const auto& arg : model_args) command.push_back(arg);
      for (const auto& arg : std::vector<std::string>{"--batch", std::to_string(batch), "--steps", "10", "--quiet"})
        command.push_back(arg);
      return nlohmann::json{{"command", command}, {"label", label}, {"batch", batch}, {"allocators", process_wide}};
    };
    return {{"repeats", 3},
            {"steps", 10},
            {"warmup", 1},
            {"timeout", 600},
            {"matrix",
             {{{"models", {"vgg-mini"}}, {"batches", {64}}, {"allocators", process_wide}, {"techniques", {"none"}}},
              torch_cells("torch-vgg-mini", {"--model", "vgg-mini"}, 64),
              {{"models", {"vgg16"}},
               {"image", 32},
               {"batches", {16}},
               {"allocators", process_wide},
               {"techniques", {"none"}}},
              torch_cells("torch-vgg16-i32", {"--model", "vgg16", "--image", "32"}, 16)}}};
  }
  std::string known;
  for (const auto& [preset, what] : preset_names()) known += (known.empty() ? "" : ", ") + preset;
  throw std::invalid_argument("unknown preset '" + name + "' (known: " + known + ")");
}

// Options a matrix entry sets as lists (models, batches, ...), or the suite itself (steps).
const std::set<std::string> kAxisKeys = {"model", "batch", "alloc", "tech", "threads", "steps"};

// More runs than any suite could finish: a matrix this large is a mistake.
constexpr std::size_t kMaxRuns = 100000;

struct Where {
  std::string source, key;
  std::invalid_argument fail(const std::string& what) const {
    return std::invalid_argument("config " + source + ": " + key + ": " + what);
  }
  Where at(const std::string& k) const { return {source, key.empty() ? k : key + "." + k}; }
  Where at(std::size_t i) const { return {source, key + "[" + std::to_string(i) + "]"}; }
};

int positive(const nlohmann::json& v, const Where& w, int low, int high) {
  if (!v.is_number_integer() || v.get<long long>() < low || v.get<long long>() > high)
    throw w.fail("expected a whole number from " + std::to_string(low) + " to " + std::to_string(high) + ", got " +
                 v.dump());
  return int(v.get<long long>());
}

std::vector<std::string> strings(const nlohmann::json& v, const Where& w) {
  if (!v.is_array() || v.empty()) throw w.fail("expected a non-empty list of names, got " + v.dump());
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) throw w.at(i).fail("expected a name in quotes, got " + v[i].dump());
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

std::vector<int> integers(const nlohmann::json& v, const Where& w, int low, int high) {
  if (!v.is_array() || v.empty()) throw w.fail("expected a non-empty list of whole numbers, got " + v.dump());
  std::vector<int> out;
  for (std::size_t i = 0; i < v.size(); ++i) out.push_back(positive(v[i], w.at(i), low, high));
  return out;
}

void check_keys(const nlohmann::json& object, const std::set<std::string>& known, const Where& w) {
  if (!object.is_object()) throw w.fail("expected a table of settings, got " + object.dump());
  for (const auto& [key, value] : object.items())
    if (!known.count(key)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw w.at(key).fail("unknown setting (known: " + list + ")");
    }
}

// Any error the registries give for a name, located at its key.
template <typename Check>
void check_name(const Where& w, Check check) {
  try {
    check();
  } catch (const std::exception& e) {
    throw w.fail(e.what());
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> preset_names() {
  return {{"quick", "under a minute, for tests: small vgg-mini, every allocator, every technique"},
          {"default",
           "what `make bench` runs (about 9 minutes on 2 cores with the build): every allocator and technique, two "
           "larger workloads"},
          {"full", "hours: more batches, VGG16 at 224, every allocator with every technique"},
          {"torch",
           "PyTorch beside the kernel (needs `make setup-torch`): vgg-mini batch 64 and VGG16 at 32x32 batch 16 "
           "under each process-wide allocator"}};
}

SuiteConfig load_preset(const std::string& name) { return parse_config(preset_json(name), "preset " + name); }

SuiteConfig load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot read config file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  const bool toml_file = path.size() >= 5 && path.substr(path.size() - 5) == ".toml";
  return parse_config_text(text.str(), path, toml_file);
}

SuiteConfig parse_config_text(const std::string& text, const std::string& source, bool toml) {
  nlohmann::json config;
  if (toml) {
    try {
      const toml::table table = toml::parse(text, source);
      std::stringstream as_json;
      as_json << toml::json_formatter{table};
      config = nlohmann::json::parse(as_json.str());
    } catch (const toml::parse_error& e) {
      throw std::invalid_argument("config " + source + ": line " + std::to_string(e.source().begin.line) + ", column " +
                                  std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    } catch (const nlohmann::json::exception& e) {  // toml++'s JSON that nlohmann cannot read back
      throw std::invalid_argument("config " + source + ": values that JSON cannot hold (" + e.what() + ")");
    }
  } else {
    try {
      config = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      // Turn the byte offset into a line number for the reader.
      const std::size_t upto = std::min<std::size_t>(e.byte, text.size());
      const auto line = 1 + std::count(text.begin(), text.begin() + std::ptrdiff_t(upto), '\n');
      throw std::invalid_argument("config " + source + ": line " + std::to_string(line) + ": not valid JSON (" +
                                  std::string(e.what()).substr(std::string(e.what()).find(']') + 2) + ")");
    } catch (const nlohmann::json::exception& e) {  // a number too large for a double, ...
      throw std::invalid_argument("config " + source + ": not valid JSON (" +
                                  std::string(e.what()).substr(std::string(e.what()).find(']') + 2) + ")");
    }
  }
  return parse_config(config, source);
}

namespace {

// A [[matrix]] entry naming a command: one cell per process-wide allocator. The
// program is looked for when the cell runs, so that one not found is a run recorded
// with its reason, as exec records it.
std::size_t add_command_cells(const nlohmann::json& entry, const Where& w, SuiteConfig& s,
                              std::set<std::string>& seen) {
  check_keys(entry, {"command", "allocators", "label", "batch"}, w);
  if (!entry.contains("allocators")) throw w.at("allocators").fail("missing");
  ExecCell base;
  base.command = strings(entry["command"], w.at("command"));
  if (base.command.empty() || base.command[0].empty())
    throw w.at("command").fail("expected the program and its arguments");
  base.label = exec_label(base.command);
  if (entry.contains("label")) {
    if (!entry["label"].is_string() || entry["label"].get<std::string>().empty())
      throw w.at("label").fail("expected a name, got " + entry["label"].dump());
    base.label = entry["label"].get<std::string>();
  }
  if (entry.contains("batch")) base.batch = positive(entry["batch"], w.at("batch"), 1, 1 << 30);
  base.warmup = s.warmup;
  const auto allocators = strings(entry["allocators"], w.at("allocators"));
  for (std::size_t i = 0; i < allocators.size(); ++i) {
    check_name(w.at("allocators").at(i), [&] { exec_allocator_library(allocators[i]); });
    ExecCell cell = base;
    cell.alloc = allocators[i];
    const std::string name = exec_record_name(cell);
    if (seen.insert(name).second) s.cells.push_back({name, RunOptions{}, cell});
  }
  return allocators.size();
}

}  // namespace

SuiteConfig parse_config(const nlohmann::json& config, const std::string& source) {
  const Where top{source, ""};
  check_keys(config, {"repeats", "steps", "warmup", "budget", "timeout", "max_reruns", "predict", "matrix"}, top);
  SuiteConfig s;
  s.source = source;
  s.as_json = config;
  if (config.contains("repeats")) s.repeats = positive(config["repeats"], top.at("repeats"), 1, 100);
  if (config.contains("steps")) s.steps = positive(config["steps"], top.at("steps"), 1, 100000);
  if (config.contains("warmup")) s.warmup = positive(config["warmup"], top.at("warmup"), 0, 1000);
  if (config.contains("max_reruns")) s.max_reruns = positive(config["max_reruns"], top.at("max_reruns"), 0, 100);
  if (config.contains("timeout")) s.timeout_s = positive(config["timeout"], top.at("timeout"), 1, 7 * 24 * 3600);
  if (config.contains("predict")) {
    if (!config["predict"].is_boolean())
      throw top.at("predict").fail("expected true or false, got " + config["predict"].dump());
    s.predict = config["predict"].get<bool>();
  }
  if (config.contains("budget")) {
    const auto& b = config["budget"];
    if (b.is_number_integer() && b.get<long long>() > 0)
      s.budget_bytes = std::size_t(b.get<long long>());
    else if (b.is_string())
      check_name(top.at("budget"), [&] { s.budget_bytes = parse_size(b.get<std::string>()); });
    else
      throw top.at("budget").fail("expected a size such as \"2GiB\", got " + b.dump());
  }
  if (!config.contains("matrix")) throw top.at("matrix").fail("missing: list at least one [[matrix]] entry");
  const auto& matrix = config["matrix"];
  if (!matrix.is_array() || matrix.empty()) throw top.at("matrix").fail("expected a list of [[matrix]] entries");

  std::set<std::string> seen;
  std::size_t listed = 0;  // runs the entries list, those listed twice included
  for (std::size_t g = 0; g < matrix.size(); ++g) {
    const Where w = top.at("matrix").at(g);
    const auto& entry = matrix[g];
    if (entry.is_object() && entry.contains("command")) {
      listed += add_command_cells(entry, w, s, seen);
      continue;
    }
    // The axes, by their plural names; every other option of the table by its key, one value.
    std::set<std::string> known = {"models", "batches", "allocators", "techniques", "threads"};
    for (const auto& option : run_options())
      if (!kAxisKeys.count(std::string(option.key))) known.emplace(option.key);
    check_keys(entry, known, w);
    for (const char* required : {"models", "batches", "allocators"})
      if (!entry.contains(required)) throw w.at(required).fail("missing");
    const auto models = strings(entry["models"], w.at("models"));
    const auto batches = integers(entry["batches"], w.at("batches"), 1, 1 << 20);
    const auto allocators = strings(entry["allocators"], w.at("allocators"));
    const auto techniques = entry.contains("techniques") ? strings(entry["techniques"], w.at("techniques"))
                                                         : std::vector<std::string>{"none"};
    const auto threads =
        entry.contains("threads") ? integers(entry["threads"], w.at("threads"), 1, 1024) : std::vector<int>{0};
    RunOptions base;
    for (const auto& option : run_options())
      if (!kAxisKeys.count(std::string(option.key)) && entry.contains(option.key))
        if (const std::string why = option.set(base, entry[std::string(option.key)]); !why.empty())
          throw w.at(std::string(option.key)).fail(why);
    check_name(w.at("optimizer"), [&] { parse_optimizer(base.optimizer); });
    check_name(w.at("data_mode"), [&] { parse_data_mode(base.data_mode); });

    for (std::size_t i = 0; i < models.size(); ++i)
      check_name(w.at("models").at(i), [&] {
        RunOptions o = base;
        o.model = models[i];
        build_model(model_spec(o));
      });
    for (std::size_t i = 0; i < allocators.size(); ++i)
      check_name(w.at("allocators").at(i), [&] {
        if (preload_library(allocators[i]).empty()) make_allocator(allocators[i]);
      });
    for (std::size_t i = 0; i < techniques.size(); ++i)
      check_name(w.at("techniques").at(i), [&] { make_techniques(techniques[i]); });

    // A few hundred bytes of lists can ask for billions of runs: refuse before building them.
    std::size_t runs = 1;
    for (const std::size_t n : {models.size(), batches.size(), threads.size(), allocators.size(), techniques.size()})
      runs = n > kMaxRuns / runs ? kMaxRuns + 1 : runs * n;
    if (runs > kMaxRuns - listed)
      throw w.fail("more than " + std::to_string(kMaxRuns) +
                   " runs in the suite (models x batches x threads x allocators x techniques)");
    listed += runs;
    for (const auto& model : models)
      for (int batch : batches)
        for (int t : threads)
          for (const auto& alloc : allocators)
            for (const auto& tech : techniques) {
              RunOptions o = base;
              o.model = model, o.batch = batch, o.threads = t, o.alloc = alloc, o.tech = tech, o.steps = s.steps;
              const std::string name = record_name(o);
              if (!seen.insert(name).second) continue;  // listed by two entries: run once
              s.cells.push_back({name, o, std::nullopt});
            }
  }
  return s;
}

}  // namespace memstrat::cli
