// `memstrat estimate`: will this configuration fit? Opens with a summary in the
// form torchinfo prints (Total / Trainable / Non-trainable params, with thousands
// separators), then the peak of each kind of buffer and the predicted peak live
// bytes; then, layer by layer, the parameters, what is saved for backward and
// the workspace. All of it from a dry run of the real trainer.
#include <fmt/core.h>

#include <string>

#include <nlohmann/json.hpp>

#include "benches/cli/commands.h"
#include "benches/cli/session.h"
#include "kernels/estimator.h"

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
                               "predict the peak live bytes of a configuration, layer by layer, without running it");
  auto options = std::make_shared<RunOptions>();
  add_config_options(*c, *options);
  auto json = std::make_shared<bool>(false);
  c->add_flag("--json", *json, "print JSON instead of a table");
  return [options, json]() {
    const Estimate e = estimate_for(*options);
    if (*json) {
      fmt::print("{}\n", estimate_json(e).dump(2));
      return 0;
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
    return 0;
  };
}

}  // namespace memstrat::cli
