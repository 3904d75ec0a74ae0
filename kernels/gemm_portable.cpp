// Portable GEMM micro-kernel: plain C++ on small fixed-size arrays, which the
// compiler may vectorise for whatever the build targets.
#include "kernels/gemm_simd.h"

namespace memstrat::gemm_detail {
namespace {

// A "vector" of 8 floats in plain C++.
struct Portable {
  struct T {
    float x[8];
  };
  static constexpr int W = 8;
  static T zero() { return T{}; }
  static T load(const float* p) {
    T v;
    for (int l = 0; l < W; ++l) v.x[l] = p[l];
    return v;
  }
  static T load_part(const float* p, int n) {
    T v{};
    for (int l = 0; l < n; ++l) v.x[l] = p[l];
    return v;
  }
  static void store(float* p, T v) {
    for (int l = 0; l < W; ++l) p[l] = v.x[l];
  }
  static void store_part(float* p, T v, int n) {
    for (int l = 0; l < n; ++l) p[l] = v.x[l];
  }
  static T bcast(const float* p) {
    T v;
    for (int l = 0; l < W; ++l) v.x[l] = *p;
    return v;
  }
  // Left to the compiler to fuse or not; the same choice for every element.
  static T fma(T a, T b, T c) {
    for (int l = 0; l < W; ++l) c.x[l] += a.x[l] * b.x[l];
    return c;
  }
  static T mul(T a, T b) {
    for (int l = 0; l < W; ++l) a.x[l] *= b.x[l];
    return a;
  }
};

constexpr KernelSet kSet = Blocked<Portable, 4, 2, 256, 128, 512>::make("portable");

}  // namespace

const KernelSet* kernels_portable() { return &kSet; }

}  // namespace memstrat::gemm_detail
