// Convolution forward and backward on the layer shapes of vgg-mini (deepconv's 32-channel
// layers are its conv1_2) and vgg16 at 32x32 and 224x224,
// through the same ops the trainer runs (im2col + our GEMM), in GFLOP/s.
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "kernels/conv.h"
#include "kernels/tensor.h"

namespace {

using memstrat::ConvGeometry;

struct ConvCase {
  const char* name;
  ConvGeometry g;
};

// 3x3, stride 1, padding 1, as every VGG conv layer.
const ConvCase kCases[] = {
    {"vgg-mini/conv1_2/b32", {32, 32, 32, 32, 32, 3, 1, 1}},  {"vgg-mini/conv2_2/b32", {32, 64, 16, 16, 64, 3, 1, 1}},
    {"vgg-mini/conv3_1/b32", {32, 64, 8, 8, 128, 3, 1, 1}},   {"vgg16-i32/conv1_2/b16", {16, 64, 32, 32, 64, 3, 1, 1}},
    {"vgg16-i32/conv3_3/b16", {16, 256, 8, 8, 256, 3, 1, 1}}, {"vgg16-i32/conv5_3/b16", {16, 512, 2, 2, 512, 3, 1, 1}},
    {"vgg16/conv1_2/b1", {1, 64, 224, 224, 64, 3, 1, 1}},     {"vgg16/conv2_2/b1", {1, 128, 112, 112, 128, 3, 1, 1}},
    {"vgg16/conv3_3/b1", {1, 256, 56, 56, 256, 3, 1, 1}},     {"vgg16/conv4_3/b1", {1, 512, 28, 28, 512, 3, 1, 1}},
    {"vgg16/conv5_3/b1", {1, 512, 14, 14, 512, 3, 1, 1}},
};

std::vector<float> filled(std::size_t n, std::uint64_t seed) {
  memstrat::Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = rng.normal();
  return v;
}

double conv_flops(const ConvGeometry& g) { return 2.0 * g.batch * g.out_c * double(g.col_rows()) * g.col_cols(); }

void set_rate(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iteration * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void BM_conv_forward(benchmark::State& state, ConvGeometry g) {
  const auto in = filled(std::size_t(g.batch) * g.in_c * g.in_h * g.in_w, 1);
  const auto w = filled(std::size_t(g.out_c) * g.col_rows(), 2);
  const auto b = filled(std::size_t(g.out_c), 3);
  std::vector<float> out(std::size_t(g.batch) * g.out_c * g.col_cols()), col(memstrat::conv_forward_workspace_elems(g));
  memstrat::conv2d_forward(out.data(), in.data(), w.data(), b.data(), g, col.data(), nullptr);  // fault pages in
  for (auto _ : state) {
    memstrat::conv2d_forward(out.data(), in.data(), w.data(), b.data(), g, col.data(), nullptr);
    benchmark::DoNotOptimize(out.data());
  }
  set_rate(state, conv_flops(g));
}

// Weight and input gradients together: twice the forward's arithmetic.
void BM_conv_backward(benchmark::State& state, ConvGeometry g) {
  const auto in = filled(std::size_t(g.batch) * g.in_c * g.in_h * g.in_w, 4);
  const auto w = filled(std::size_t(g.out_c) * g.col_rows(), 5);
  const auto dout = filled(std::size_t(g.batch) * g.out_c * g.col_cols(), 6);
  std::vector<float> din(in.size()), dw(w.size()), db(std::size_t(g.out_c)),
      col(memstrat::conv_backward_workspace_elems(g));
  auto run = [&] {
    std::memset(dw.data(), 0, dw.size() * sizeof(float));
    std::memset(db.data(), 0, db.size() * sizeof(float));
    memstrat::conv2d_backward(din.data(), dw.data(), db.data(), dout.data(), in.data(), w.data(), g, col.data(),
                              nullptr);
  };
  run();
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(din.data());
  }
  set_rate(state, 2.0 * conv_flops(g));
}

const bool registered = [] {
  for (const ConvCase& c : kCases) {
    benchmark::RegisterBenchmark((std::string("conv/forward/") + c.name).c_str(), BM_conv_forward, c.g)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv/backward/") + c.name).c_str(), BM_conv_backward, c.g)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
