// GEMM micro-kernels for AVX-512 (F, VL, BW, DQ). Compiled for that instruction
// set whatever the build flags; gemm.cpp calls them only where the CPU has it.
#include "kernels/gemm_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include <immintrin.h>

#if defined(__clang__)  // clang ignores GCC's target pragma; this is its equivalent
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2")
#endif
// GCC 12 warns about _mm512_undefined_ps() inside its own shuffle intrinsics.
#pragma GCC diagnostic push
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/gemm_simd.h"

namespace memstrat::gemm_detail {
namespace {

struct Zmm {
  using T = __m512;
  static constexpr int W = 16;
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static T load_part(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static void store_part(float* p, T v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static T bcast(const float* p) { return _mm512_set1_ps(*p); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
};

// Transposes 16 vectors of 16 floats: on return r[u] holds lane u of the inputs.
inline void transpose16(__m512 r[16]) {
  __m512 t[16], u[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  // u[4 i + j], 128-bit lane L: element 4 L + j of rows 4 i .. 4 i + 3.
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m512 v = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);
    const __m512 w = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    const __m512 w2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    r[j] = _mm512_shuffle_f32x4(v, v2, 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(v, v2, 0xDD);
    r[4 + j] = _mm512_shuffle_f32x4(w, w2, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(w, w2, 0xDD);
  }
}

// The transposing packs (A not transposed, B transposed) with 16 x 16 register
// transposes; the copying ones as GenericPack.
template <int MR, int NR>
struct Avx512Pack : GenericPack<MR, 16, NR> {
  using Base = GenericPack<MR, 16, NR>;
  static_assert(MR <= 16 && NR % 16 == 0, "panel shapes the transposes handle");

  static void a_panel(const Rect& r, int row, int mr, int k0, int kc, float* d) {
    if (r.trans_a) return Base::a_panel(r, row, mr, k0, kc, d);
    // mr rows of A, each contiguous in k -> kc groups of mr values.
    const float* s = r.A + static_cast<std::ptrdiff_t>(row) * r.lda + k0;
    const __mmask16 m = static_cast<__mmask16>((1u << mr) - 1u);
    int k = 0;
    for (; k + 16 <= kc; k += 16) {
      __m512 x[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) x[i] = i < mr ? _mm512_loadu_ps(s + i * r.lda + k) : _mm512_setzero_ps();
      transpose16(x);
#pragma GCC unroll 16
      for (int u = 0; u < 16; ++u) _mm512_mask_storeu_ps(d + (k + u) * mr, m, x[u]);
    }
    for (; k < kc; ++k)
      for (int i = 0; i < mr; ++i) d[k * mr + i] = s[i * r.lda + k];
  }

  static void bt_panel(const Rect& r, int k0, int kc, int col, int n, int np, float* d) {
    // n rows of B, each contiguous in k -> kc rows of np values (zero past n).
    const float* s = r.B + static_cast<std::ptrdiff_t>(col) * r.ldb + k0;
    int k = 0;
    for (; k + 16 <= kc; k += 16) {
      for (int j = 0; j < np; j += 16) {
        const int rows = n - j < 16 ? n - j : 16;
        __m512 x[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) x[i] = i < rows ? _mm512_loadu_ps(s + (j + i) * r.ldb + k) : _mm512_setzero_ps();
        transpose16(x);
#pragma GCC unroll 16
        for (int u = 0; u < 16; ++u) _mm512_storeu_ps(d + (k + u) * np + j, x[u]);
      }
    }
    for (; k < kc; ++k) {
      for (int j = 0; j < n; ++j) d[k * np + j] = s[j * r.ldb + k];
      for (int j = n; j < np; ++j) d[k * np + j] = 0.0f;
    }
  }
};

// 12 x 32 tiles (24 accumulators, 2 B vectors, a broadcast: 27 of the 32 zmm
// registers), the shape BLIS uses for sgemm on Zen 4. K blocks of up to 384
// (an A micro-panel of 18 KiB stays in L1), B blocks of 384 x 512 (768 KiB, in
// a 1 MiB L2), A blocks of 480 x 384 (720 KiB, in L2/L3). Measured on Zen 4
// against 14 x 32, 8 x 48 and 6 x 64 zmm tiles, 12 x 16 and 14 x 16 tiles of
// 256-bit vectors (all 32 registers), and K blocks of 256 / 480, A blocks of
// 960 rows, B blocks of 256 / 1024 columns: none faster, 14 x 16 slower.
using Set = Blocked<Zmm, 12, 2, 384, 480, 512, Avx512Pack<12, 32>>;
constexpr KernelSet kSet = Set::make("avx512");

}  // namespace

const KernelSet* kernels_avx512() { return &kSet; }

}  // namespace memstrat::gemm_detail

#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#else

const memstrat::gemm_detail::KernelSet* memstrat::gemm_detail::kernels_avx512() { return nullptr; }

#endif
