// GEMM micro-kernels for AVX2 + FMA (16 registers of 256 bits). Compiled for
// that instruction set whatever the build flags; gemm.cpp calls them only where
// the CPU has it.
#include "kernels/gemm_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#if defined(__clang__)  // clang ignores GCC's target pragma; this is its equivalent
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

#include "kernels/gemm_simd.h"

namespace memstrat::gemm_detail {
namespace {

struct Ymm2 {
  using T = __m256;
  static constexpr int W = 8;
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static T load_part(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static void store_part(float* p, T v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
  static T bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
};

// 6 x 16 tiles: 12 accumulators, 2 B vectors and a broadcast fit the 16
// registers. K blocks of up to 256, B blocks of 256 x 192 (192 KiB: fits the
// L2 of AVX2 CPUs from 256 KiB up), A blocks of 288 x 256. On Zen 4 (L2 1 MiB)
// B blocks of 256 to 1024 columns and A blocks of 144 to 288 rows measured alike.
constexpr KernelSet kSet = Blocked<Ymm2, 6, 2, 256, 288, 192>::make("avx2");

}  // namespace

const KernelSet* kernels_avx2() { return &kSet; }

}  // namespace memstrat::gemm_detail

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else

const memstrat::gemm_detail::KernelSet* memstrat::gemm_detail::kernels_avx2() { return nullptr; }

#endif
