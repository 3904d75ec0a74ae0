// `memstrat estimate`: will this configuration fit? Opens with a summary in the
// form torchinfo prints (Total / Trainable / Non-trainable params, with thousands
// separators), then the peak of each kind of buffer and the predicted peak live
// bytes; then, layer by layer, the parameters, what is saved for backward and
// the workspace. All of it from a dry run of the real trainer. With --alloc, the
// peak RSS that dry run's allocations take under each allocator named, from a
// replay in a child process of its own (benches/cli/predict.h).
#include <fmt/core.h>

#include <algorithm>

#include <string>

#include <nlohmann/json.hpp>

#include "benches/cli/commands.h"
#include "benches/cli/predict.h"
#include "benches/cli/session.h"
#include "kernels/estimator.h"
#include "strategies/registry.h"

namespace memstrat::cli {

namespace {

// 138357544 -> "138,357,544", as torchinfo prints parameter counts.
std::string grouped(std::size_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "malloc,pool" -> {"malloc", "pool"}, each checked before any child starts.
std::vector<std::string> allocator_list(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t from = 0; from <= text.size();) {
    const std::size_t comma = std::min(text.find(',', from), text.size());
    const std::string spec = text.substr(from, comma - from);
    if (spec.empty()) throw SpecError("--alloc: an empty allocator name in '" + text + "'");
    if (preload_library(spec).empty()) make_allocator(spec);  // throws SpecError naming what is wrong
    out.push_back(spec);
    from = comma + 1;
  }
  return out;
}

nlohmann::json prediction_json(const RssPrediction& p) {
  nlohmann::json j = {{"alloc", p.alloc}, {"seconds", p.seconds}};
  if (p.peak_rss_bytes)
    j["predicted_peak_rss_bytes"] = *p.peak_rss_bytes, j["baseline_rss_bytes"] = p.baseline_rss_bytes;
  if (!p.error.empty()) j["error"] = p.error;
  if (!p.caveat.empty()) j["caveat"] = p.caveat;
  return j;
}

}  // namespace

nlohmann::json estimate_json(const Estimate& e) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& l : e.layers)
    layers.push_back({{"index", l.index},
                      {"layer", l.description},
                      {"output", l.output.str()},
                      {"params", l.params},
                      {"saved_bytes", l.saved_bytes},
                      {"workspace_bytes", l.workspace_bytes}});
  nlohmann::json peaks;
  for (int k = 0; k < kBufferKindCount; ++k) peaks[to_string(BufferKind(k))] = e.peak_by_kind[std::size_t(k)];
  return {{"total_params", e.total_params},
          {"trainable_params", e.trainable_params},
          {"non_trainable_params", e.total_params - e.trainable_params},
          {"layers", layers},
          {"peak_bytes_by_kind", peaks},
          {"setup_bytes", e.setup_bytes},
          {"predicted_peak_live_bytes", e.peak_live_bytes}};
}

Estimate estimate_for(const RunOptions& options) {
  const ModelSpec spec = model_spec(options);
  TechniqueSet techniques = make_techniques(options.tech);
  const Model shape_only = build_model(spec);
  const TrainOptions train = train_options(options, techniques, shape_only);
  auto store = techniques.store ? std::move(techniques.store) : std::make_unique<ActivationStore>();
  return estimate_training(spec, *store, train);
}

Command add_estimate(CLI::App& app) {
  auto* c = app.add_subcommand("estimate",
                               "predict the peak live bytes of a configuration, layer by layer, without running it, "
                               "and with --alloc its peak RSS under each allocator");
  auto options = std::make_shared<RunOptions>();
  add_config_options(*c, *options);
  auto allocs = std::make_shared<std::string>();
  c->add_option("--alloc,-a", *allocs,
                "predict peak RSS under each of these allocators (comma-separated; see `memstrat list`), "
                "replaying the dry run in a child process per allocator");
  auto steps = std::make_shared<int>(kDefaultPredictSteps);
  c->add_option("--run-steps", *steps,
                "with --alloc: steps of the run to predict, warm-up included (`run`'s default is 2 + 10); "
                "glibc's heap grows over steps, so give the run's")
      ->check(whole_number(1, 100000))
      ->capture_default_str();
  auto json = std::make_shared<bool>(false);
  c->add_flag("--json", *json, "print JSON instead of a table");
  return [options, allocs, steps, json]() {
    const std::vector<std::string> names = allocs->empty() ? std::vector<std::string>{} : allocator_list(*allocs);
    const Estimate e = estimate_for(*options);
    std::vector<RssPrediction> predictions;
    for (const auto& name : names) {
      RunOptions o = *options;
      o.alloc = name;
      if (!*json) fmt::print(stderr, "predicting peak RSS under {} ...\n", name);
      Limits limits;
      limits.timeout_s = 600;
      predictions.push_back(predict_peak_rss(o, *steps, limits));
    }
    const bool all_predicted = std::all_of(predictions.begin(), predictions.end(),
                                           [](const RssPrediction& p) { return p.peak_rss_bytes.has_value(); });
    if (*json) {
      nlohmann::json out = estimate_json(e);
      if (!names.empty()) {
        out["peak_rss"] = nlohmann::json::array();
        for (const auto& p : predictions) out["peak_rss"].push_back(prediction_json(p));
      }
      fmt::print("{}\n", out.dump(2));
      return all_predicted ? 0 : 1;
    }
    fmt::print("{}, batch {}, optimizer {}, techniques {}\n", options->model, options->batch, options->optimizer,
               options->tech);
    const std::string rule(78, '=');
    fmt::print("{}\n", rule);
    fmt::print("Total params: {}\n", grouped(e.total_params));
    fmt::print("Trainable params: {}\n", grouped(e.trainable_params));
    fmt::print("Non-trainable params: {}\n", grouped(e.total_params - e.trainable_params));
    fmt::print("{}\n", rule);
    const auto& k = e.peak_by_kind;
    auto at = [&](BufferKind kind) { return format_bytes(double(k[std::size_t(kind)])); };
    fmt::print("Parameters: {}\n", at(BufferKind::parameter));
    fmt::print("Gradients: {}\n", at(BufferKind::gradient));
    fmt::print("Optimizer state: {}\n", at(BufferKind::optimizer_state));
    fmt::print("Peak activations: {}\n", at(BufferKind::activation));
    fmt::print("Peak temporaries: {}\n", at(BufferKind::temporary));
    fmt::print("Peak workspace: {}\n", at(BufferKind::workspace));
    fmt::print("Peak input: {}\n", at(BufferKind::input));
    fmt::print("Predicted peak live bytes: {} ({})\n", grouped(e.peak_live_bytes),
               format_bytes(double(e.peak_live_bytes)));
    fmt::print("{}\n", rule);
    fmt::print("{:>3}  {:<24} {:>18} {:>12} {:>12} {:>12}\n", "#", "layer", "output", "params", "saved", "workspace");
    for (const auto& l : e.layers)
      fmt::print("{:>3}  {:<24} {:>18} {:>12} {:>12} {:>12}\n", l.index, l.description, l.output.str(),
                 grouped(l.params), format_bytes(double(l.saved_bytes)), format_bytes(double(l.workspace_bytes)));
    if (!predictions.empty()) {
      fmt::print("{}\n", rule);
      fmt::print(
          "Predicted peak RSS ({} steps replayed after the run's own setup, each allocator in its own process):\n",
          *steps);
      fmt::print("{:<16} {:>12} {:>12} {:>8}  {}\n", "allocator", "peak RSS", "baseline", "seconds", "note");
      for (const auto& p : predictions)
        if (p.peak_rss_bytes)
          fmt::print("{:<16} {:>12} {:>12} {:>8.2f}  {}\n", p.alloc, format_bytes(double(*p.peak_rss_bytes)),
                     format_bytes(double(p.baseline_rss_bytes)), p.seconds, p.caveat);
        else
          fmt::print("{:<16} {:>12} {:>12} {:>8.2f}  {}\n", p.alloc, "-", "-", p.seconds, p.error);
    }
    return all_predicted ? 0 : 1;
  };
}

}  // namespace memstrat::cli
