// Private to the GEMM: the contract between the driver (kernels/gemm.cpp) and
// the micro-kernels of each instruction set (kernels/gemm_avx512.cpp,
// kernels/gemm_avx2.cpp, kernels/gemm_portable.cpp).
//
// Packed layouts (W = the kernel's vector width in floats, NR = nv_max * W):
//   A micro-panel of mr rows (1 <= mr <= MR): kc x mr floats, k-major:
//     a[k * mr + i] = op(A)(row0 + i, k0 + k). Compact: a short last panel has
//     stride mr, not MR.
//   B micro-panel of n columns (1 <= n <= NR), nv = ceil(n / W) vectors:
//     kc x (nv * W) floats, k-major: b[k * nv * W + j] = op(B)(k0 + k, col0 + j),
//     zero for j >= n.
// A tile kernel computes the mr x n block
//     C = alpha * sum_k a[k] b[k] + beta * C     (beta == 0: C is not read)
// summing k in increasing order into accumulators that start at zero, then
// applying alpha and beta the same way for every element of every tile. So each
// element's arithmetic depends only on the K blocking (a function of K), never
// on the thread that runs its tile or on the alignment of A, B or C. (The SIMD
// kernels spell out every fused multiply-add, so neither on the tile's position
// or size either; the portable kernel leaves fusing to the compiler.)
#pragma once

#include <cstddef>

namespace memstrat::gemm_detail {

// One thread's share of a product: the rows [m0, m1) and columns [n0, n1) of C,
// all of K. abuf / bbuf: that thread's packing buffers (KernelSet::a_floats and
// b_floats floats, 64-byte aligned).
struct Rect {
  bool trans_a, trans_b;
  int m0, m1, n0, n1, K;
  float alpha, beta;
  const float* A;
  std::ptrdiff_t lda;
  const float* B;
  std::ptrdiff_t ldb;
  float* C;
  std::ptrdiff_t ldc;
  float* abuf;
  float* bbuf;
};

struct KernelSet {
  const char* name;
  int mr;                    // rows of a full tile (A micro-panel height)
  int nr;                    // columns of a full tile (B micro-panel width)
  int kc, mb, nb;            // largest K block, rows of A and columns of B packed at once
  std::size_t a_floats;      // packing buffer sizes of one thread: mb * kc
  std::size_t b_floats;      //                                    kc * nb
  void (*run)(const Rect&);  // the blocked algorithm on one thread's rectangle
};

// Each returns nullptr when the binary was built without that kernel.
const KernelSet* kernels_avx512();
const KernelSet* kernels_avx2();
const KernelSet* kernels_portable();

}  // namespace memstrat::gemm_detail
