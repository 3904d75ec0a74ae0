// Private to the GEMM: the blocked algorithm, packing and register-blocked tile
// kernel, written once over a vector type V. Each per-instruction-set source
// includes this header after its `#pragma GCC target(...)`, so that all of it is
// compiled for that instruction set. Everything here is in an anonymous
// namespace: no instantiation is shared (and picked by the linker) between
// instruction sets.
//
// V provides: type T, width W, zero(), load(p), load_part(p, n) (first n lanes,
// the rest zero, nothing beyond them read), store(p, v), store_part(p, v, n),
// bcast(p), fma(a, b, c) = a*b + c with one rounding, mul(a, b).
#pragma once

#include <array>
#include <cstddef>
#include <utility>

#include "kernels/gemm_internal.h"

namespace memstrat::gemm_detail {
namespace {

using TileFn = void (*)(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, float alpha, float beta,
                        int n);

// Prefetch distance, in k steps, along the streamed B micro-panel.
inline constexpr int kPrefetchK = 8;

template <class V, int MRr, int NV>
struct Tile {
  using T = typename V::T;
  static constexpr int W = V::W;
  static constexpr int NR = NV * W;

  static void run(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, float alpha, float beta,
                  int n) {
    T acc[MRr][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MRr; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
#pragma GCC unroll 16
    for (int i = 0; i < MRr; ++i) {
      __builtin_prefetch(c + i * ldc, 1, 3);
      __builtin_prefetch(c + i * ldc + (n - 1), 1, 3);
    }
#pragma GCC unroll 2
    for (int k = 0; k < kc; ++k) {
      T bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);
#pragma GCC unroll 4
      for (int l = 0; l < NR; l += 16) __builtin_prefetch(b + kPrefetchK * NR + l, 0, 3);
#pragma GCC unroll 16
      for (int i = 0; i < MRr; ++i) {
        const T ai = V::bcast(a + i);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(ai, bv[v], acc[i][v]);
      }
      a += MRr;
      b += NR;
    }
    // The write-back: the same operations for every element whatever the tile.
    const T va = V::bcast(&alpha);
    const int rem = n - (NV - 1) * W;  // valid lanes of the last vector, 1..W
    if (beta == 0.0f) {
#pragma GCC unroll 16
      for (int i = 0; i < MRr; ++i) {
        float* ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV - 1; ++v) V::store(ci + v * W, V::mul(va, acc[i][v]));
        float* cl = ci + (NV - 1) * W;
        if (rem == W)
          V::store(cl, V::mul(va, acc[i][NV - 1]));
        else
          V::store_part(cl, V::mul(va, acc[i][NV - 1]), rem);
      }
    } else if (beta == 1.0f) {
#pragma GCC unroll 16
      for (int i = 0; i < MRr; ++i) {
        float* ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV - 1; ++v) V::store(ci + v * W, V::fma(va, acc[i][v], V::load(ci + v * W)));
        float* cl = ci + (NV - 1) * W;
        if (rem == W)
          V::store(cl, V::fma(va, acc[i][NV - 1], V::load(cl)));
        else
          V::store_part(cl, V::fma(va, acc[i][NV - 1], V::load_part(cl, rem)), rem);
      }
    } else {
      const T vb = V::bcast(&beta);
#pragma GCC unroll 16
      for (int i = 0; i < MRr; ++i) {
        float* ci = c + i * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV - 1; ++v) V::store(ci + v * W, V::fma(va, acc[i][v], V::mul(vb, V::load(ci + v * W))));
        float* cl = ci + (NV - 1) * W;
        if (rem == W)
          V::store(cl, V::fma(va, acc[i][NV - 1], V::mul(vb, V::load(cl))));
        else
          V::store_part(cl, V::fma(va, acc[i][NV - 1], V::mul(vb, V::load_part(cl, rem))), rem);
      }
    }
  }
};

// Packing. See gemm_internal.h for the layouts. Packing only copies values, so
// the arithmetic never depends on where A and B lie. Plain loops, which the
// compiler vectorises for the instruction set of the including file; a file may
// pass faster transposing packers to Blocked (see GenericPack).
template <int MR, int W, int NR>
struct GenericPack {
  // One A micro-panel: rows [row, row + mr) x columns [k0, k0 + kc) of op(A).
  static void a_panel(const Rect& r, int row, int mr, int k0, int kc, float* d) {
    if (!r.trans_a) {
      // op(A)(m, k) = A[m * lda + k]: gather mr rows, each contiguous in k.
      const float* s = r.A + static_cast<std::ptrdiff_t>(row) * r.lda + k0;
      if (mr == MR) {
        for (int k = 0; k < kc; ++k)
#pragma GCC unroll 16
          for (int ii = 0; ii < MR; ++ii) d[k * MR + ii] = s[ii * r.lda + k];
      } else {
        for (int k = 0; k < kc; ++k)
          for (int ii = 0; ii < mr; ++ii) d[k * mr + ii] = s[ii * r.lda + k];
      }
    } else {
      // op(A)(m, k) = A[k * lda + m]: each k gives mr contiguous values.
      const float* s = r.A + static_cast<std::ptrdiff_t>(k0) * r.lda + row;
      if (mr == MR) {
        for (int k = 0; k < kc; ++k)
#pragma GCC unroll 16
          for (int ii = 0; ii < MR; ++ii) d[k * MR + ii] = s[k * r.lda + ii];
      } else {
        for (int k = 0; k < kc; ++k)
          for (int ii = 0; ii < mr; ++ii) d[k * mr + ii] = s[k * r.lda + ii];
      }
    }
  }

  // One B micro-panel of op(B) when trans_b: rows [k0, k0 + kc) x columns
  // [col, col + n), padded with zeros to np columns.
  static void bt_panel(const Rect& r, int k0, int kc, int col, int n, int np, float* d) {
    // op(B)(k, j) = B[j * ldb + k]: gather n rows of B, each contiguous in k.
    const float* s = r.B + static_cast<std::ptrdiff_t>(col) * r.ldb + k0;
    if (n == NR) {
      for (int k = 0; k < kc; ++k)
#pragma GCC unroll 4
        for (int jj = 0; jj < NR; ++jj) d[k * NR + jj] = s[jj * r.ldb + k];
    } else {
      for (int k = 0; k < kc; ++k) {
        for (int jj = 0; jj < n; ++jj) d[k * np + jj] = s[jj * r.ldb + k];
        for (int jj = n; jj < np; ++jj) d[k * np + jj] = 0.0f;
      }
    }
  }
};

// Rows [row0, row0 + rows) x columns [k0, k0 + kc) of op(A), in MR-row panels.
template <int MR, class Pack>
void pack_a(const Rect& r, int row0, int rows, int k0, int kc, float* dst) {
  for (int i = 0; i < rows; i += MR)
    Pack::a_panel(r, row0 + i, rows - i < MR ? rows - i : MR, k0, kc, dst + static_cast<std::ptrdiff_t>(i) * kc);
}

// Rows [k0, k0 + kc) x columns [col0, col0 + cols) of op(B), in NR-column panels
// (a short last panel padded with zeros to a multiple of W).
template <int W, int NR, class Pack>
void pack_b(const Rect& r, int k0, int kc, int col0, int cols, float* dst) {
  const int full = cols / NR * NR;  // columns in full panels
  const int n = cols - full;        // in the short last one
  const int np = (n + W - 1) / W * W;
  if (r.trans_b) {
    for (int j = 0; j < full; j += NR)
      Pack::bt_panel(r, k0, kc, col0 + j, NR, NR, dst + static_cast<std::ptrdiff_t>(j) * kc);
    if (n) Pack::bt_panel(r, k0, kc, col0 + full, n, np, dst + static_cast<std::ptrdiff_t>(full) * kc);
    return;
  }
  // op(B)(k, j) = B[k * ldb + j]: read each row of the block once, front to
  // back (prefetch friendly), scattering it over the panels.
  const float* s = r.B + static_cast<std::ptrdiff_t>(k0) * r.ldb + col0;
  for (int k = 0; k < kc; ++k, s += r.ldb) {
    float* d = dst + static_cast<std::ptrdiff_t>(k) * NR;
    for (int j = 0; j < full; j += NR, d += static_cast<std::ptrdiff_t>(NR) * kc)
#pragma GCC unroll 4
      for (int jj = 0; jj < NR; ++jj) d[jj] = s[j + jj];
    if (n) {
      d = dst + static_cast<std::ptrdiff_t>(full) * kc + static_cast<std::ptrdiff_t>(k) * np;
      for (int jj = 0; jj < n; ++jj) d[jj] = s[full + jj];
      for (int jj = n; jj < np; ++jj) d[jj] = 0.0f;
    }
  }
}

// The blocked algorithm (BLIS loop order, with the roles of A and B swapped for
// row-major storage): for each block of MB rows, for each K block, pack that
// A block (kept in L2/L3); for each block of NB columns, pack that B block (kept
// in L2); then for each MR-row A micro-panel (kept in L1) sweep the NR-column B
// micro-panels streaming from L2.
template <class V, int MR, int NV, int KC, int MB, int NB, class Pack = GenericPack<MR, V::W, NV * V::W>>
struct Blocked {
  static constexpr int W = V::W;
  static constexpr int NR = NV * W;
  static_assert(MB % MR == 0 && NB % NR == 0, "blocks hold whole panels");

  static constexpr auto tiles = []<int... Is>(std::integer_sequence<int, Is...>) {
    return std::array<TileFn, MR * NV>{&Tile<V, Is / NV + 1, Is % NV + 1>::run...};
  }
  (std::make_integer_sequence<int, MR * NV>{});

  static void run(const Rect& r) {
    const int K = r.K;
    const int nk = K / KC + (K % KC != 0);  // K blocks depend on K alone
    for (int mb0 = r.m0; mb0 < r.m1; mb0 += MB) {
      const int mbs = r.m1 - mb0 < MB ? r.m1 - mb0 : MB;
      for (int p = 0; p < nk; ++p) {
        const int k0 = static_cast<int>(static_cast<long long>(K) * p / nk);
        const int kc = static_cast<int>(static_cast<long long>(K) * (p + 1) / nk) - k0;
        const float beta = p == 0 ? r.beta : 1.0f;
        pack_a<MR, Pack>(r, mb0, mbs, k0, kc, r.abuf);
        for (int nb0 = r.n0; nb0 < r.n1; nb0 += NB) {
          const int nbs = r.n1 - nb0 < NB ? r.n1 - nb0 : NB;
          pack_b<W, NR, Pack>(r, k0, kc, nb0, nbs, r.bbuf);
          for (int i = 0; i < mbs; i += MR) {
            const int mr = mbs - i < MR ? mbs - i : MR;
            const float* ap = r.abuf + static_cast<std::ptrdiff_t>(i) * kc;
            float* crow = r.C + static_cast<std::ptrdiff_t>(mb0 + i) * r.ldc + nb0;
            for (int j = 0; j < nbs; j += NR) {
              const int n = nbs - j < NR ? nbs - j : NR;
              const int nv = (n + W - 1) / W;
              tiles[(mr - 1) * NV + (nv - 1)](kc, ap, r.bbuf + static_cast<std::ptrdiff_t>(j) * kc, crow + j, r.ldc,
                                              r.alpha, beta, n);
            }
          }
        }
      }
    }
  }

  static constexpr KernelSet make(const char* name) {
    return KernelSet{name, MR, NR, KC, MB, NB, static_cast<std::size_t>(MB) * KC, static_cast<std::size_t>(KC) * NB,
                     &run};
  }
};

}  // namespace
}  // namespace memstrat::gemm_detail
