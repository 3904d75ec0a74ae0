// GEMM micro-benchmarks: ours (memstrat::gemm) against OpenBLAS cblas_sgemm on
// the same shapes, registered in pairs so that each runs right after the other:
//   gemm/ours/square/1024           gemm/openblas/square/1024
//   gemm/ours/vgg16/NN/128x12544x576 gemm/openblas/vgg16/NN/128x12544x576
// The GFLOP/s counter is 2*M*N*K per iteration, as a rate in GFLOP/s.
// Both libraries use the same thread count: OpenMP's (omp_get_max_threads()).
//
// Shapes: conv layers as GEMM per image (M = out channels, N = out H*W,
// K = in channels * 9), forward NN; their weight gradient NT (M = OC, N = C*9,
// K = OH*OW) and input gradient TN (M = C*9, N = OH*OW, K = OC); fully connected
// layers with batch 64 (forward x * W^T is NT; backward dx = dY * W is NN and
// dW = dY^T * x is TN).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "kernels/gemm.h"

namespace {

struct Buffer {
  explicit Buffer(std::size_t n) : p(static_cast<float*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64))) {}
  ~Buffer() { std::free(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* p;
};

enum class Impl { ours, openblas };

struct Shape {
  const char* group;
  bool ta, tb;
  int M, N, K;
};

// The operands of the shape being measured, kept from one call of the
// benchmark function to the next (Google Benchmark calls it several times) and
// shared by the ours / openblas pair. Values in [-1, 1]; filling also faults
// every page in.
struct Operands {
  Operands(std::size_t na, std::size_t nb, std::size_t nc) : a(na), b(nb), c(nc) {
    fill(a.p, na, 1);
    fill(b.p, nb, 2);
    for (std::size_t i = 0; i < nc; ++i) c.p[i] = 0.0f;
  }
  static void fill(float* p, std::size_t n, std::uint32_t seed) {
    std::uint32_t x = seed * 2654435761u + 1;
    for (std::size_t i = 0; i < n; ++i) {
      x = x * 1664525u + 1013904223u;
      p[i] = float(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
  }
  Buffer a, b, c;
};

Operands& operands(const Shape& s) {
  static std::unique_ptr<Operands> ops;
  static Shape current{};
  if (!ops || current.M != s.M || current.N != s.N || current.K != s.K) {
    ops.reset();
    ops = std::make_unique<Operands>(std::size_t(s.M) * s.K, std::size_t(s.K) * s.N, std::size_t(s.M) * s.N);
    current = s;
  }
  return *ops;
}

void run_gemm(benchmark::State& state, Impl impl, Shape s) {
  Operands& ops = operands(s);
  float *a = ops.a.p, *b = ops.b.p, *c = ops.c.p;
  const int lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N, ldc = s.N;

  const int threads = omp_get_max_threads();
  openblas_set_num_threads(threads);
  auto call = [&] {
    if (impl == Impl::ours)
      memstrat::gemm(s.ta ? memstrat::Trans::yes : memstrat::Trans::no,
                     s.tb ? memstrat::Trans::yes : memstrat::Trans::no, s.M, s.N, s.K, 1.0f, a, lda, b, ldb, 0.0f, c,
                     ldc);
    else
      cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, s.M, s.N, s.K,
                  1.0f, a, lda, b, ldb, 0.0f, c, ldc);
  };
  // When switching library, let the other one's idle worker threads go to sleep
  // first: OpenBLAS's keep spinning for 2^28 cycles (~0.1 s) after a call,
  // libgomp's for a much shorter while. Then warm caches, buffers and pools.
  static Impl last = Impl::ours;
  if (impl != last) {
    std::this_thread::sleep_for(std::chrono::milliseconds(impl == Impl::ours ? 200 : 20));
    last = impl;
  }
  call();
  call();

  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(c);
    benchmark::ClobberMemory();
  }
  const double gflop = 2.0 * s.M * s.N * double(s.K) * 1e-9;
  state.counters["GFLOP/s"] =
      benchmark::Counter(gflop * double(state.iterations()), benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.SetLabel(impl == Impl::ours ? memstrat::gemm_kernel_name() : "openblas");
}

std::string shape_name(const Shape& s) {
  if (std::string(s.group) == "square") return "square/" + std::to_string(s.M);
  return std::string(s.group) + "/" + (s.ta ? "T" : "N") + (s.tb ? "T" : "N") + "/" + std::to_string(s.M) + "x" +
         std::to_string(s.N) + "x" + std::to_string(s.K);
}

const Shape kShapes[] = {
    // Square, NN.
    {"square", false, false, 256, 256, 256},
    {"square", false, false, 512, 512, 512},
    {"square", false, false, 1024, 1024, 1024},
    {"square", false, false, 2048, 2048, 2048},
    // vgg-mini (32x32 input), forward.
    {"vggmini", false, false, 32, 1024, 27},
    {"vggmini", false, false, 32, 1024, 288},
    {"vggmini", false, false, 64, 256, 288},
    {"vggmini", false, false, 64, 256, 576},
    {"vggmini", false, false, 128, 64, 576},
    // vgg-mini backward: weight gradient (NT) and input gradient (TN).
    {"vggmini", false, true, 32, 27, 1024},
    {"vggmini", false, true, 64, 576, 256},
    {"vggmini", true, false, 576, 256, 64},
    {"vggmini", false, true, 128, 576, 64},
    {"vggmini", true, false, 576, 64, 128},
    // vgg16 at 224x224, forward.
    {"vgg16", false, false, 64, 50176, 27},
    {"vgg16", false, false, 64, 50176, 576},
    {"vgg16", false, false, 128, 12544, 576},
    {"vgg16", false, false, 128, 12544, 1152},
    {"vgg16", false, false, 256, 3136, 1152},
    {"vgg16", false, false, 256, 3136, 2304},
    {"vgg16", false, false, 512, 784, 2304},
    {"vgg16", false, false, 512, 784, 4608},
    {"vgg16", false, false, 512, 196, 4608},
    // vgg16 backward.
    {"vgg16", false, true, 64, 576, 50176},
    {"vgg16", true, false, 576, 50176, 64},
    {"vgg16", false, true, 256, 2304, 3136},
    {"vgg16", true, false, 2304, 3136, 256},
    {"vgg16", false, true, 512, 4608, 196},
    {"vgg16", true, false, 4608, 196, 512},
    // Fully connected, batch 64: forward x * W^T, backward dx = dY * W, dW = dY^T * x.
    {"fc", false, true, 64, 4096, 25088},
    {"fc", false, true, 64, 4096, 4096},
    {"fc", false, false, 64, 4096, 4096},
    {"fc", true, false, 4096, 4096, 64},
};

const bool kRegistered = [] {
  for (const Shape& s : kShapes) {
    const double gflop = 2.0 * s.M * s.N * double(s.K) * 1e-9;
    // Enough time for a stable median; the largest shapes take ~25 ms a call.
    const double min_time = std::string(s.group) == "square" ? 0.5 : gflop > 1.0 ? 0.3 : 0.2;
    for (Impl impl : {Impl::ours, Impl::openblas}) {
      const std::string name = std::string("gemm/") + (impl == Impl::ours ? "ours/" : "openblas/") + shape_name(s);
      benchmark::RegisterBenchmark(name.c_str(), run_gemm, impl, s)
          ->UseRealTime()
          ->MinTime(min_time)
          ->Unit(benchmark::kMicrosecond);
    }
  }
  return true;
}();

}  // namespace
