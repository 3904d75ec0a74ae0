// The trainer end to end, through the same session the CLI builds.
#include <catch2/catch.hpp>
#include <cmath>
#include <omp.h>
#include <vector>

#include "benches/cli/session.h"
#include "kernels/models.h"
#include "tests/support.h"

using namespace memstrat;

namespace {

std::vector<double> train_losses(const cli::RunOptions& options) {
  auto session = cli::open_session(options);
  std::vector<double> losses;
  for (int i = 0; i < options.steps; ++i) losses.push_back(session->trainer->step().loss);
  return losses;
}

cli::RunOptions small(const std::string& model, int batch, int steps) {
  cli::RunOptions o;
  o.model = model;
  o.batch = batch;
  o.steps = steps;
  o.threads = 2;
  o.samples = 512;
  return o;
}

}  // namespace

TEST_CASE("vgg-mini learns: the loss falls at least 2.5x in 60 steps", "[training]") {
  auto options = small("vgg-mini", 32, 60);
  // Under ASan on 16x16 images rather than 32x32: a quarter of the work, and it learns as well.
  if (memstrat::test::kSanitized) options.image = 16;
  const auto losses = train_losses(options);
  // An untrained 10-class model is no better than chance (ln 10 = 2.30).
  REQUIRE(losses.front() > 2.0);
  // Single batches are noisy and one label in five is random: compare the mean of the last 10 steps.
  double tail = 0;
  for (std::size_t i = losses.size() - 10; i < losses.size(); ++i) tail += losses[i] / 10;
  INFO("first " << losses.front() << ", mean of the last 10 " << tail);
  REQUIRE(tail * 2.5 < losses.front());
}

TEST_CASE("evaluate: the loss of the weights as they are, over a fixed set of samples", "[training]") {
  auto options = small("vgg-mini", 16, 1);
  auto session = cli::open_session(options);
  // Before any step, the first batch's evaluation is the first step's loss: same
  // weights, same samples, the same forward arithmetic.
  const double before = session->trainer->evaluate(16);
  REQUIRE(session->trainer->evaluate(16) == before);
  const double first_step = session->trainer->step().loss;
  REQUIRE(before == Approx(first_step).epsilon(1e-12));
  // Learning moves it; evaluating teaches nothing.
  const double after = session->trainer->evaluate(16);
  REQUIRE(after != before);
  REQUIRE(session->trainer->evaluate(16) == after);
  // Sample counts that the batch does not divide are evaluated in a shorter last batch.
  REQUIRE(std::isfinite(session->trainer->evaluate(37)));
  REQUIRE_THROWS(session->trainer->evaluate(0));
}

TEST_CASE("the same seed and threads give a bitwise-identical loss sequence", "[training]") {
  for (const char* model : {"vgg-mini", "mlp"}) {
    const auto a = train_losses(small(model, 16, 5));
    const auto b = train_losses(small(model, 16, 5));
    INFO(model);
    REQUIRE(a == b);
  }
  auto other = small("mlp", 16, 5);
  other.seed = 2;
  REQUIRE(train_losses(other) != train_losses(small("mlp", 16, 5)));
}

TEST_CASE("every model trains a step with sgd and adam", "[training]") {
  for (const char* model : {"mlp", "mlp:64,32,16", "vgg-mini", "deepconv:3"}) {
    for (const char* optimizer : {"sgd", "adam"}) {
      auto o = small(model, 4, 3);
      o.optimizer = optimizer;
      o.samples = 16;
      const auto losses = train_losses(o);
      INFO(model << " " << optimizer);
      for (double loss : losses) REQUIRE(std::isfinite(loss));
    }
  }
  auto tiny_vgg16 = small("vgg16", 1, 1);
  tiny_vgg16.image = 32;
  tiny_vgg16.classes = 10;
  tiny_vgg16.samples = 2;
  REQUIRE(std::isfinite(train_losses(tiny_vgg16).front()));
}

TEST_CASE("vgg16 is configuration D: 13 conv, 5 pools, 3 fully connected, 138,357,544 parameters", "[training]") {
  const Model m = build_model(parse_model_spec("vgg16"));
  int convs = 0, pools = 0, linears = 0;
  for (const auto& layer : m.layers) {
    const std::string d = layer->describe();
    convs += d.rfind("conv3x3", 0) == 0;
    pools += d.rfind("maxpool", 0) == 0;
    linears += d.rfind("linear", 0) == 0;
  }
  REQUIRE(convs == 13);
  REQUIRE(pools == 5);
  REQUIRE(linears == 3);
  REQUIRE(m.param_count() == 138357544u);  // torchvision's vgg16 count
  REQUIRE(m.input == Shape{1, 3, 224, 224});
}

TEST_CASE("model specs: defaults and refusals", "[training]") {
  REQUIRE(build_model(parse_model_spec("deepconv:5")).layers.size() == 8);  // stem, 5, pool, classifier
  REQUIRE(build_model(parse_model_spec("mlp:7,9")).layers.size() == 3);
  REQUIRE_THROWS_WITH(parse_model_spec("resnet"), Catch::Contains("unknown model 'resnet'"));
  REQUIRE_THROWS_WITH(parse_model_spec("mlp:3,x"), Catch::Contains("mlp width"));
  REQUIRE_THROWS_WITH(parse_model_spec("deepconv:0"), Catch::Contains("positive"));
  ModelSpec too_small = parse_model_spec("vgg16");
  too_small.image = 16;
  REQUIRE_THROWS_WITH(build_model(too_small), Catch::Contains("image size"));
}
