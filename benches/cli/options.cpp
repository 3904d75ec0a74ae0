#include "benches/cli/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fmt/core.h>
#include <stdexcept>

namespace memstrat::cli {

CLI::Validator whole_number(std::uint64_t low, std::uint64_t high) {
  return CLI::Validator(
      [low, high](std::string& text) -> std::string {
        std::string expected = fmt::format("expected a whole number from {} to {}, got '{}'", low, high, text);
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return expected;
        errno = 0;
        const unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
        if (errno == ERANGE || value < low || value > high) return expected;
        return {};
      },
      fmt::format("{}..{}", low, high));
}

CLI::Validator positive_number(double high) {
  return CLI::Validator(
      [high](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !std::isfinite(value) || value <= 0.0 || value > high)
          return fmt::format("expected a positive number up to {}, got '{}'", high, text);
        return {};
      },
      fmt::format("(0, {}]", high));
}

namespace {

const RunOptions kDefaults{};

// A whole number held in `member`, from `low` to `high`; `tag` prefixes its part of
// the record name ("i" makes "i64"); no tag: not in the name.
template <typename T>
RunOption whole(std::string_view key, std::string_view flags, std::string_view help, OptionGroup group,
                T RunOptions::*member, std::uint64_t low, std::uint64_t high, std::string_view tag, bool show_default) {
  RunOption o{key, flags, help, group, {}, {}, {}, {}, {}, {}};
  o.add = [=](CLI::App& app, RunOptions& options) {
    CLI::Option* added = app.add_option(std::string(flags), options.*member, std::string(help));
    added->check(whole_number(low, high));
    if (show_default) added->capture_default_str();
    return added;
  };
  o.get = [=](const RunOptions& options) { return nlohmann::json(options.*member); };
  o.set = [=](RunOptions& options, const nlohmann::json& v) -> std::string {
    const bool negative = v.is_number_integer() && !v.is_number_unsigned() && v.get<long long>() < 0;
    if (!v.is_number_integer() || negative || v.get<std::uint64_t>() < low || v.get<std::uint64_t>() > high)
      return fmt::format("expected a whole number from {} to {}, got {}", low, high, v.dump());
    options.*member = T(v.get<std::uint64_t>());
    return {};
  };
  o.text = [=](const RunOptions& options) { return std::to_string(options.*member); };
  o.given = [=](const RunOptions& options) { return options.*member != kDefaults.*member; };
  o.name_part = [=](const RunOptions& options) {
    return tag.empty() ? std::string() : std::string(tag) + std::to_string(options.*member);
  };
  return o;
}

// A name held in `member`; `choices` lists the values the flag takes (empty: any,
// checked where it is used). In the record name as itself when `named`.
RunOption name(std::string_view key, std::string_view flags, std::string_view help, OptionGroup group,
               std::string RunOptions::*member, const std::vector<std::string>& choices, bool named) {
  RunOption o{key, flags, help, group, {}, {}, {}, {}, {}, {}};
  o.add = [=](CLI::App& app, RunOptions& options) {
    CLI::Option* added = app.add_option(std::string(flags), options.*member, std::string(help));
    if (!choices.empty()) added->check(CLI::IsMember(choices));
    if (!(kDefaults.*member).empty()) added->capture_default_str();
    return added;
  };
  o.get = [=](const RunOptions& options) { return nlohmann::json(options.*member); };
  o.set = [=](RunOptions& options, const nlohmann::json& v) -> std::string {
    if (!v.is_string()) return "expected a name in quotes, got " + v.dump();
    options.*member = v.get<std::string>();
    return {};
  };
  o.text = [=](const RunOptions& options) { return options.*member; };
  o.given = [=](const RunOptions& options) { return options.*member != kDefaults.*member; };
  o.name_part = [=](const RunOptions& options) { return named ? options.*member : std::string(); };
  return o;
}

// The learning rate: absent means the optimizer's and the model's default.
RunOption learning_rate() {
  constexpr double kHighest = 100;
  RunOption o{"lr",
              "--lr",
              "learning rate (default: 0.001 for adam; for sgd the model's, see `memstrat list`)",
              OptionGroup::run,
              {},
              {},
              {},
              {},
              {},
              {}};
  o.add = [=](CLI::App& app, RunOptions& options) {
    return app.add_option("--lr", options.lr, std::string(o.help))->check(positive_number(kHighest));
  };
  o.get = [](const RunOptions& options) { return options.lr ? nlohmann::json(*options.lr) : nlohmann::json(); };
  o.set = [=](RunOptions& options, const nlohmann::json& v) -> std::string {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0 || v.get<double>() > kHighest)
      return fmt::format("expected a positive number up to {}, got {}", kHighest, v.dump());
    options.lr = v.get<double>();
    return {};
  };
  o.text = [](const RunOptions& options) { return options.lr ? fmt::format("{}", *options.lr) : std::string(); };
  o.given = [](const RunOptions& options) { return options.lr.has_value(); };
  o.name_part = [](const RunOptions& options) { return options.lr ? fmt::format("lr{}", *options.lr) : std::string(); };
  return o;
}

std::vector<RunOption> make_table() {
  using G = OptionGroup;
  std::vector<RunOption> t;
  // What a configuration is: estimate, fit and trace record take these.
  t.push_back(name("model", "--model,-m", "model: mlp[:W,W,...], vgg-mini, vgg16, deepconv[:L]", G::config,
                   &RunOptions::model, {}, false));
  t.push_back(whole("image", "--image", "input height and width in pixels (default: 224 for vgg16, else 32)", G::config,
                    &RunOptions::image, 1, 4096, "i", false));
  t.push_back(whole("channels", "--channels", "channels of deepconv's layers (default 64)", G::config,
                    &RunOptions::channels, 1, 4096, "c", false));
  t.push_back(whole("classes", "--classes", "number of classes (default: 1000 for vgg16, else 10)", G::config,
                    &RunOptions::classes, 2, 100000, "k", false));
  t.push_back(
      whole("batch", "--batch,-b", "samples per optimizer step", G::config, &RunOptions::batch, 1, 1 << 20, "", true));
  t.push_back(whole("threads", "--threads,-t", "OpenMP threads (default: every core)", G::config, &RunOptions::threads,
                    1, 1024, "t", false));
  t.push_back(whole("ranks", "--ranks",
                    "MPI processes training together on slices of the batch (dp unless a zero:S "
                    "technique is given; the batch is the global one)",
                    G::config, &RunOptions::ranks, 1, 1024, "r", false));
  t.push_back(name("optimizer", "--optimizer", "sgd (momentum 0.9, weight decay 5e-4) or adam", G::config,
                   &RunOptions::optimizer, {"sgd", "adam"}, true));
  t.push_back(name("tech", "--tech",
                   "techniques, comma-separated: fp16|bf16, accum:K, recompute[:N], offload (see `memstrat list`)",
                   G::config, &RunOptions::tech, {}, false));
  // What a run needs besides.
  t.push_back(
      whole("steps", "--steps,-s", "optimizer steps to run", G::run, &RunOptions::steps, 1, 100000000, "", true));
  t.push_back(whole("seed", "--seed", "seed of the data and the initial weights", G::run, &RunOptions::seed, 0,
                    UINT64_MAX, "seed", true));
  t.push_back(learning_rate());
  t.push_back(name("data", "--data", "dataset file; generated there when absent (default: a temporary file)", G::run,
                   &RunOptions::data, {}, false));
  t.push_back(whole("samples", "--samples",
                    "samples in a generated dataset (default: up to 2048, about 256 MiB at most)", G::run,
                    &RunOptions::samples, 1, std::uint64_t(1) << 40, "n", false));
  t.push_back(name("data_mode", "--data-mode", "how the training set is held: memory, mmap or stream", G::run,
                   &RunOptions::data_mode, {"memory", "mmap", "stream"}, true));
  t.push_back(name("transport", "--transport",
                   "with --ranks: tcp for Open MPI's TCP transport only (default: its own choice, shared memory "
                   "on one host)",
                   G::run, &RunOptions::transport, {"tcp"}, true));
  t.push_back(
      name("alloc", "--alloc,-a", "allocation strategy (see `memstrat list`)", G::run, &RunOptions::alloc, {}, false));
  return t;
}

// The record name's fixed head: model/bBATCH/ALLOC/TECH.
bool in_head(std::string_view key) { return key == "model" || key == "batch" || key == "alloc" || key == "tech"; }

// The first command-line name of an option: "--batch" of "--batch,-b".
std::string long_flag(std::string_view flags) { return std::string(flags.substr(0, flags.find(','))); }

}  // namespace

const std::vector<RunOption>& run_options() {
  static const std::vector<RunOption> table = make_table();
  return table;
}

const RunOption& run_option(std::string_view key) {
  for (const auto& option : run_options())
    if (option.key == key) return option;
  throw std::logic_error("no run option '" + std::string(key) + "'");
}

void add_config_options(CLI::App& c, RunOptions& o) {
  // A repeated option takes its last value, as most command lines do.
  c.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  for (const auto& option : run_options())
    if (option.group == OptionGroup::config) option.add(c, o);
}

void add_run_options(CLI::App& c, RunOptions& o) {
  add_config_options(c, o);
  for (const auto& option : run_options())
    if (option.group == OptionGroup::run) option.add(c, o);
}

std::string record_name(const RunOptions& o) {
  std::string name = fmt::format("{}/b{}/{}/{}", o.model, o.batch, o.alloc, o.tech);
  for (const auto& option : run_options())
    if (!in_head(option.key) && option.given(o))
      if (const std::string part = option.name_part(o); !part.empty()) name += "/" + part;
  return name;
}

nlohmann::json config_json(const RunOptions& o) {
  nlohmann::json config = nlohmann::json::object();
  for (const auto& option : run_options())
    if (nlohmann::json value = option.get(o); !value.is_null()) config[std::string(option.key)] = std::move(value);
  return config;
}

std::vector<std::string> option_arguments(const RunOptions& o) {
  std::vector<std::string> words;
  for (const auto& option : run_options())
    if (in_head(option.key) || option.given(o)) {
      words.push_back(long_flag(option.flags));
      words.push_back(option.text(o));
    }
  return words;
}

}  // namespace memstrat::cli
