// The greedy-by-size offset planner behind `planned`, called directly.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "strategies/planned.h"

using namespace memstrat;

namespace {

// No two buffers that are alive together share a byte, and every offset is aligned.
void require_valid(const std::vector<PlanBuffer>& buffers, const Plan& plan) {
  REQUIRE(plan.offsets.size() == buffers.size());
  std::size_t end = 0;
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    const std::size_t oi = plan.offsets[i];
    if (oi % buffers[i].align != 0) FAIL("buffer " << i << " at " << oi << " is not aligned to " << buffers[i].align);
    end = std::max(end, oi + buffers[i].size);
    for (std::size_t j = i + 1; j < buffers.size(); ++j) {
      if (!lifetimes_overlap(buffers[i], buffers[j])) continue;
      const std::size_t oj = plan.offsets[j];
      if (oi < oj + buffers[j].size && oj < oi + buffers[i].size)
        FAIL("buffers " << i << " and " << j << " are alive together and overlap");
    }
  }
  REQUIRE(plan.slab_bytes == end);
  REQUIRE(plan.slab_bytes >= plan.lower_bound_bytes);
}

std::size_t log_uniform(std::mt19937_64& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(std::log(lo), std::log(hi));
  return std::size_t(std::exp(u(rng)));
}

// Buffers with random lifetimes over a window of events, sizes spread over four decades.
std::vector<PlanBuffer> random_trace(std::uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  std::vector<PlanBuffer> buffers;
  const std::uint64_t horizon = std::uint64_t(count) * 2;
  for (int i = 0; i < count; ++i) {
    PlanBuffer b;
    b.size = log_uniform(rng, 64, 1 << 20);
    b.align = std::size_t(16) << (rng() % 9);
    b.first_use = rng() % horizon;
    b.last_use = b.first_use + log_uniform(rng, 1, double(horizon) / 4);
    buffers.push_back(b);
  }
  return buffers;
}

// A training step's shape: forward outputs kept until backward passes them, one
// gradient handed down, short-lived workspaces in between; events numbered in order.
std::vector<PlanBuffer> training_trace(std::uint64_t seed, int layers) {
  std::mt19937_64 rng(seed);
  std::vector<PlanBuffer> buffers;
  std::uint64_t clock = 0;
  std::vector<std::size_t> act(std::size_t(layers) + 1);
  for (auto& a : act) a = log_uniform(rng, 4096, 4 << 20) / 64 * 64;
  std::vector<std::size_t> saved;
  for (int l = 0; l < layers; ++l) {
    saved.push_back(buffers.size());
    buffers.push_back({act[std::size_t(l) + 1], 64, clock++, 0});
    if (rng() % 2 == 0) {
      buffers.push_back({log_uniform(rng, 4096, 8 << 20) / 64 * 64, 64, clock, clock + 1});
      clock += 2;
    }
  }
  std::size_t grad = buffers.size();
  buffers.push_back({act[std::size_t(layers)], 64, clock++, 0});
  for (int l = layers - 1; l >= 0; --l) {
    std::size_t din = buffers.size();
    if (l > 0) buffers.push_back({act[std::size_t(l)], 64, clock++, 0});
    if (rng() % 2 == 0) {
      buffers.push_back({log_uniform(rng, 4096, 8 << 20) / 64 * 64, 64, clock, clock + 1});
      clock += 2;
    }
    buffers[saved[std::size_t(l)]].last_use = clock++;
    buffers[grad].last_use = clock++;
    grad = din;
  }
  return buffers;
}

}  // namespace

TEST_CASE("planner: the lower bound is the most bytes alive at once", "[strategies]") {
  REQUIRE(plan_lower_bound({}) == 0);
  // Lifetimes are inclusive: [0,4] and [4,6] meet at 4; [5,9] only meets the second.
  REQUIRE(plan_lower_bound({{100, 64, 0, 4}, {30, 64, 4, 6}, {50, 64, 5, 9}}) == 130);
  REQUIRE(plan_lower_bound({{100, 64, 0, 3}, {30, 64, 4, 6}}) == 100);
  const Plan empty = plan_greedy_by_size({});
  REQUIRE(empty.slab_bytes == 0);
  REQUIRE(empty.offsets.empty());
}

TEST_CASE("planner: buffers alive at different times share the slab", "[strategies]") {
  const std::vector<PlanBuffer> buffers = {{1000, 64, 0, 1}, {800, 64, 2, 3}, {600, 64, 4, 5}};
  const Plan plan = plan_greedy_by_size(buffers);
  require_valid(buffers, plan);
  REQUIRE(plan.slab_bytes == 1000);
  REQUIRE(plan.offsets == std::vector<std::size_t>{0, 0, 0});
}

TEST_CASE("planner: offsets honour alignment", "[strategies]") {
  const std::vector<PlanBuffer> buffers = {{1000, 64, 0, 9}, {100, 4096, 0, 9}, {10, 16, 0, 9}};
  const Plan plan = plan_greedy_by_size(buffers);
  require_valid(buffers, plan);
  REQUIRE(plan.offsets[1] == 4096);
  REQUIRE(plan.offsets[2] == 1008);
}

TEST_CASE("planner: a chain of equal or shrinking buffers reaches the lower bound exactly", "[strategies]") {
  // Each buffer is alive with only its neighbours: buffer i over [2i, 2i+2].
  const auto chain = [](const std::vector<std::size_t>& sizes) {
    std::vector<PlanBuffer> buffers;
    for (std::size_t i = 0; i < sizes.size(); ++i) buffers.push_back({sizes[i], 64, 2 * i, 2 * i + 2});
    return buffers;
  };
  std::vector<std::size_t> equal(20, 4096), shrinking, growing;
  for (std::size_t i = 0; i < 20; ++i) shrinking.push_back((40 - i) * 1024);
  growing.assign(shrinking.rbegin(), shrinking.rend());
  for (const auto& sizes : {equal, shrinking, growing}) {
    const auto buffers = chain(sizes);
    const Plan plan = plan_greedy_by_size(buffers);
    require_valid(buffers, plan);
    std::size_t pair = 0;
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) pair = std::max(pair, sizes[i] + sizes[i + 1]);
    REQUIRE(plan.lower_bound_bytes == pair);
    REQUIRE(plan.slab_bytes == plan.lower_bound_bytes);
  }
}

TEST_CASE("planner: greedy is a heuristic, short of the bound on some chains", "[strategies]") {
  // 10-8-5-7-1: the largest goes first at 0, 8 after it, 7 at 0; then 5 fits
  // neither under 8 nor beside 7 and lands at 18, whereas 5 at 0 and 7 at 5
  // would have met the bound of 18. Validity is what matters; the excess is bounded.
  std::vector<PlanBuffer> buffers;
  const std::size_t sizes[] = {10, 8, 5, 7, 1};
  for (std::size_t i = 0; i < 5; ++i) buffers.push_back({sizes[i] * 1024, 64, 2 * i, 2 * i + 2});
  const Plan plan = plan_greedy_by_size(buffers);
  require_valid(buffers, plan);
  REQUIRE(plan.lower_bound_bytes == 18 * 1024);
  REQUIRE(plan.slab_bytes <= 23 * 1024);
}

TEST_CASE("planner: random traces are planned validly and close to the lower bound", "[strategies]") {
  // Measured when written (slab / lower bound): over these 60 seeds, random
  // lifetimes mean 1.023, worst 1.242; training-shaped traces mean 1.008, worst
  // 1.111. Over 3000 seeds: random mean 1.024, p99 1.21, worst 1.39; training
  // mean 1.011, p99 1.15, worst 1.26. Taking the smallest fitting gap instead
  // of the lowest offset changes none of these by more than 0.002.
  // Stated: within 5% of the bound on average and 1.5x on any trace.
  double worst = 0, sum = 0;
  int traces = 0;
  for (int seed = 1; seed <= 60; ++seed) {
    const auto both = {random_trace(std::uint64_t(seed), 150), training_trace(std::uint64_t(seed), 4 + seed % 20)};
    for (const auto& buffers : both) {
      const Plan plan = plan_greedy_by_size(buffers);
      require_valid(buffers, plan);
      const double ratio = double(plan.slab_bytes) / double(plan.lower_bound_bytes);
      worst = std::max(worst, ratio);
      sum += ratio;
      ++traces;
    }
  }
  INFO("slab / lower bound: mean " << sum / traces << ", worst " << worst);
  REQUIRE(sum / traces <= 1.05);
  REQUIRE(worst <= 1.5);
}
