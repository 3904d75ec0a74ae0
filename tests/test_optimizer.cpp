#include <catch2/catch.hpp>
#include <cmath>

#include "kernels/optimizer.h"

using namespace memstrat;

TEST_CASE("SGD with momentum and weight decay follows PyTorch's update", "[optimizer]") {
  float w[2] = {1.0f, -2.0f}, v[2] = {0.0f, 0.5f};
  const float g[2] = {0.1f, 0.2f};
  sgd_update(w, v, g, 2, 0.1f, 0.9f, 0.01f);
  // v = 0.9 v + (g + 0.01 w); w -= 0.1 v
  REQUIRE(v[0] == Approx(0.11f));
  REQUIRE(v[1] == Approx(0.45f + 0.18f));
  REQUIRE(w[0] == Approx(1.0f - 0.011f));
  REQUIRE(w[1] == Approx(-2.0f - 0.063f));
}

TEST_CASE("Adam's first step moves each weight by about lr against its gradient", "[optimizer]") {
  float w[3] = {1.0f, 1.0f, 1.0f}, m[3] = {}, v[3] = {};
  const float g[3] = {0.5f, -3.0f, 1e-3f};
  adam_update(w, m, v, g, 3, 0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 1);
  // After one step m_hat = g and v_hat = g^2, so the step is lr * sign(g).
  REQUIRE(w[0] == Approx(0.99f));
  REQUIRE(w[1] == Approx(1.01f));
  REQUIRE(w[2] == Approx(0.99f).epsilon(1e-4));
  REQUIRE(m[1] == Approx(-0.3f));
  REQUIRE(v[1] == Approx(0.009f).epsilon(1e-4));  // 1 - 0.999f is not exact in float
}

TEST_CASE("an unknown optimizer is refused", "[optimizer]") {
  REQUIRE(parse_optimizer("adam") == OptimizerKind::adam);
  REQUIRE_THROWS_WITH(parse_optimizer("rmsprop"), Catch::Contains("unknown optimizer 'rmsprop'"));
}
