// Convolution forward and backward on the layer shapes of vgg-mini (deepconv's 32-channel
// layers are its conv1_2) and vgg16 at 32x32 and 224x224,
// through the same ops the trainer runs (im2col + our GEMM), in GFLOP/s; beside them,
// the textbook im2col + OpenBLAS sgemm, image by image, as the reference (conv/openblas/).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
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

// Runs run() once to fault its pages in, then times it; the rate is flops_per_run a run.
template <class Run>
void measure(benchmark::State& state, Run run, const float* result, double flops_per_run) {
  run();
  for (auto _ : state) {
    run();
    benchmark::DoNotOptimize(result);
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_run * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

void BM_conv_forward(benchmark::State& state, ConvGeometry g) {
  const auto in = filled(std::size_t(g.batch) * g.in_c * g.in_h * g.in_w, 1);
  const auto w = filled(std::size_t(g.out_c) * g.col_rows(), 2);
  const auto b = filled(std::size_t(g.out_c), 3);
  std::vector<float> out(std::size_t(g.batch) * g.out_c * g.col_cols()), col(memstrat::conv_forward_workspace_elems(g));
  measure(
      state, [&] { memstrat::conv2d_forward(out.data(), in.data(), w.data(), b.data(), g, col.data(), nullptr); },
      out.data(), conv_flops(g));
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
  measure(state, run, din.data(), 2.0 * conv_flops(g));
}

// The reference: the same scheme as ours with OpenBLAS's sgemm in place of our GEMM.
// Where ours gives threads whole images (conv_image_threads), each OpenMP thread takes
// whole images with OpenBLAS on one thread; elsewhere the images go one by one, im2col on
// one thread and sgemm over OpenBLAS's own threads (two pools spinning for 2 cores would
// have made it 15x slower than its GEMMs alone).
class Reference {
 public:
  explicit Reference(const ConvGeometry& g)
      : g_(g), threads_(omp_get_max_threads()), image_threads_(memstrat::conv_image_threads(g)) {
    if (image_threads_ == 1) omp_set_num_threads(1);
    openblas_set_num_threads(image_threads_ > 1 ? 1 : threads_);
    cols_.resize(std::size_t(image_threads_) * g.col_elems());
  }
  ~Reference() {
    omp_set_num_threads(threads_);
    openblas_set_num_threads(threads_);
  }
  Reference(const Reference&) = delete;
  Reference& operator=(const Reference&) = delete;

  // Calls each(thread, image, that thread's column matrix) for every image.
  template <class Each>
  void images(Each each) {
#pragma omp parallel for schedule(static) num_threads(image_threads_)
    for (int n = 0; n < g_.batch; ++n) {
      const int t = omp_get_thread_num();
      each(t, n, cols_.data() + std::size_t(t) * g_.col_elems());
    }
  }
  int image_threads() const { return image_threads_; }

 private:
  ConvGeometry g_;
  int threads_, image_threads_;
  std::vector<float> cols_;
};

// Forward: per image im2col, out = weight * col, then the bias and ReLU (ours fuses them).
void BM_conv_forward_openblas(benchmark::State& state, ConvGeometry g) {
  const auto in = filled(std::size_t(g.batch) * g.in_c * g.in_h * g.in_w, 1);
  const auto w = filled(g.weight_elems(), 2);
  const auto b = filled(std::size_t(g.out_c), 3);
  const int rows = int(g.col_rows()), cols = int(g.col_cols());
  const std::size_t image = std::size_t(g.in_c) * g.in_h * g.in_w, output = std::size_t(g.out_c) * cols;
  std::vector<float> out(std::size_t(g.batch) * output);
  Reference ref(g);
  auto run = [&] {
    ref.images([&](int, int n, float* col) {
      float* o = out.data() + n * output;
      memstrat::im2col(col, in.data() + n * image, g);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.out_c, cols, rows, 1.0f, w.data(), rows, col, cols, 0.0f,
                  o, cols);
      for (int oc = 0; oc < g.out_c; ++oc)
        for (int i = 0; i < cols; ++i)
          o[std::size_t(oc) * cols + i] = std::max(o[std::size_t(oc) * cols + i] + b[oc], 0.0f);
    });
  };
  measure(state, run, out.data(), conv_flops(g));
}

// Backward: per image dweight += dout * col^T (a buffer per thread, summed after) and
// din = col2im(weight^T * dout); dbias left out (a sum, not a GEMM).
void BM_conv_backward_openblas(benchmark::State& state, ConvGeometry g) {
  const auto in = filled(std::size_t(g.batch) * g.in_c * g.in_h * g.in_w, 4);
  const auto w = filled(g.weight_elems(), 5);
  const int rows = int(g.col_rows()), cols = int(g.col_cols());
  const std::size_t image = std::size_t(g.in_c) * g.in_h * g.in_w, output = std::size_t(g.out_c) * cols;
  const auto dout = filled(std::size_t(g.batch) * output, 6);
  std::vector<float> din(in.size());
  Reference ref(g);
  std::vector<float> dw(std::size_t(ref.image_threads()) * g.weight_elems());
  auto run = [&] {
    std::memset(dw.data(), 0, dw.size() * sizeof(float));
    ref.images([&](int t, int n, float* col) {
      const float* d = dout.data() + n * output;
      memstrat::im2col(col, in.data() + n * image, g);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.out_c, rows, cols, 1.0f, d, cols, col, cols, 1.0f,
                  dw.data() + std::size_t(t) * g.weight_elems(), rows);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, cols, g.out_c, 1.0f, w.data(), rows, d, cols, 0.0f,
                  col, cols);
      memstrat::col2im(din.data() + n * image, col, g);
    });
    for (int t = 1; t < ref.image_threads(); ++t)
      for (std::size_t i = 0; i < g.weight_elems(); ++i) dw[i] += dw[std::size_t(t) * g.weight_elems() + i];
  };
  measure(state, run, din.data(), 2.0 * conv_flops(g));
}

const bool registered = [] {
  for (const ConvCase& c : kCases) {
    benchmark::RegisterBenchmark((std::string("conv/forward/") + c.name).c_str(), BM_conv_forward, c.g)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv/backward/") + c.name).c_str(), BM_conv_backward, c.g)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv/openblas/forward/") + c.name).c_str(), BM_conv_forward_openblas,
                                 c.g)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark((std::string("conv/openblas/backward/") + c.name).c_str(), BM_conv_backward_openblas,
                                 c.g)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
