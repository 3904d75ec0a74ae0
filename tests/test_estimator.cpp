// The estimator predicts the measured peak live bytes of the same configuration.
//
// It dry-runs the real trainer, so the prediction is documented as exact, and
// the test holds it to that: one byte off is a failure.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "benches/cli/commands.h"
#include "benches/cli/session.h"
#include "kernels/activation.h"
#include "kernels/estimator.h"
#include "kernels/models.h"
#include "tests/support.h"

using namespace memstrat;

namespace {

// The peak live bytes of a real run of `o.steps` steps.
std::size_t measured_peak_live_bytes(const cli::RunOptions& o) {
  auto session = cli::open_session(o);
  session->allocator->reset_peak();
  for (int i = 0; i < o.steps; ++i) session->trainer->step();
  return session->allocator->stats().peak_live_bytes;
}

}  // namespace

TEST_CASE("estimate equals the measured peak live bytes, every model and technique", "[estimator]") {
  const char* models[] = {"mlp:64,32", "vgg-mini", "deepconv:4"};
  const char* techniques[] = {
      "none", "recompute", "recompute:2", "accum:2",        "accum:2,recompute", "accum:4",
      "fp16", "bf16",      "offload",     "bf16,recompute", "fp16,accum:2",      "offload,recompute"};
  for (const char* model : models)
    for (const char* tech : techniques)
      for (const char* optimizer : {"sgd", "adam"}) {
        cli::RunOptions o;
        o.model = model, o.tech = tech, o.optimizer = optimizer;
        o.batch = 8, o.steps = 2, o.threads = 2, o.samples = 16;
        o.image = 16;
        INFO(model << " " << tech << " " << optimizer);
        const std::size_t measured = measured_peak_live_bytes(o);
        REQUIRE(cli::estimate_for(o).peak_live_bytes == measured);
      }
}

TEST_CASE("estimate of vgg16 at 224: parameters, gradients and momentum of 138M weights", "[estimator]") {
  cli::RunOptions o;
  o.model = "vgg16", o.batch = 2, o.threads = 2;
  const Estimate e = cli::estimate_for(o);
  const std::size_t weight_bytes = 138357544u * 4;
  REQUIRE(e.peak_by_kind[std::size_t(BufferKind::parameter)] == weight_bytes);
  REQUIRE(e.peak_by_kind[std::size_t(BufferKind::gradient)] == weight_bytes);
  REQUIRE(e.peak_by_kind[std::size_t(BufferKind::optimizer_state)] == weight_bytes);
  REQUIRE(e.peak_live_bytes > 3 * weight_bytes);
  REQUIRE(e.layers.size() == 21);
}

TEST_CASE("estimate of options the trainer refuses throws and reports nothing after", "[estimator]") {
  // The trainer refuses a batch that accum does not divide after the model's
  // weights exist; those are then freed while unwinding, and the watcher must
  // have been detached by then (under ASan, a report here is that bug).
  struct Counter final : AllocObserver {
    int allocations = 0, frees = 0;
    void on_allocate(const AllocRequest&, const void*) override { ++allocations; }
    void on_deallocate(const AllocRequest&, const void*) override { ++frees; }
  } counter;
  ModelSpec spec = parse_model_spec("mlp:16");
  spec.image = 8;
  ActivationStore store;
  TrainOptions options;
  options.batch = 4, options.accum = 3;
  REQUIRE_THROWS_AS(estimate_training(spec, store, options, &counter), std::invalid_argument);
  REQUIRE(counter.allocations > 0);
  REQUIRE(counter.frees == 0);
}

namespace {

// VGG-16 (configuration D) at 224x224 with 1000 classes: 138,357,544 weights and
// biases, the count its paper and torchvision publish.
constexpr std::size_t kVgg16Params = 138357544;

cli::RunOptions vgg16_224() {
  cli::RunOptions o;
  o.model = "vgg16", o.image = 224, o.classes = 1000, o.batch = 1, o.threads = 2;
  return o;
}

}  // namespace

TEST_CASE("vgg16 at 224 with 1000 classes has 138,357,544 parameters, all trainable", "[estimator]") {
  const Estimate e = cli::estimate_for(vgg16_224());
  REQUIRE(e.total_params == kVgg16Params);
  REQUIRE(e.trainable_params == kVgg16Params);
  std::size_t by_layer = 0;
  for (const auto& l : e.layers) by_layer += l.params;
  REQUIRE(by_layer == kVgg16Params);

  const nlohmann::json j = cli::estimate_json(e);
  REQUIRE(j.at("total_params").is_number_unsigned());
  REQUIRE(j.at("trainable_params").is_number_unsigned());
  REQUIRE(j.at("total_params").get<std::size_t>() == kVgg16Params);
  REQUIRE(j.at("trainable_params").get<std::size_t>() == kVgg16Params);
  REQUIRE(j.at("non_trainable_params").get<std::size_t>() == 0);
  REQUIRE(j.at("predicted_peak_live_bytes").get<std::size_t>() == e.peak_live_bytes);
}

TEST_CASE("memstrat estimate opens with torchinfo's parameter summary", "[estimator][cli]") {
  const std::string args = "estimate --model vgg16 --image 224 --classes 1000 --batch 1 --threads 2";
  const auto text = test::run_cli(args);
  INFO(text.err);
  REQUIRE(text.exit_code == 0);
  const auto total = text.out.find("\nTotal params: 138,357,544\n");
  REQUIRE(total != std::string::npos);
  REQUIRE(text.out.find("\nTrainable params: 138,357,544\n") != std::string::npos);
  REQUIRE(text.out.find("\nNon-trainable params: 0\n") != std::string::npos);
  REQUIRE(text.out.find("\nPredicted peak live bytes: ") != std::string::npos);
  // The summary comes first, then the per-layer table.
  const auto table = text.out.find("#  layer");
  REQUIRE(table != std::string::npos);
  REQUIRE(total < table);

  const auto json = test::run_cli(args + " --json");
  REQUIRE(json.exit_code == 0);
  const nlohmann::json j = nlohmann::json::parse(json.out);
  REQUIRE(j.at("total_params").get<std::size_t>() == kVgg16Params);
  REQUIRE(j.at("trainable_params").get<std::size_t>() == kVgg16Params);
}
