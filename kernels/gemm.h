// Single-precision GEMM for training: C = alpha * op(A) * op(B) + beta * C.
//
// Row-major, with leading dimensions. The three products training needs are
// C = A*B (forward), C = A^T*B and C = A*B^T (backward), selected by the
// transpose flags: no transpose is ever materialised. beta = 1 accumulates into
// C (gradient summation); beta = 0 overwrites C without reading it.
//
// Results are bitwise-reproducible for a given thread count: they do not depend
// on pointer alignment or on scheduling, so every allocator trains the same model.
#pragma once

#include <cstddef>

namespace memstrat {

enum class Trans : unsigned char { no, yes };

// Scratch for packing panels. When a caller passes none, gemm uses buffers of its
// own (per thread, kept for reuse). The trainer passes one taken from the
// allocator under test, so that those bytes are measured too.
struct GemmWorkspace {
  float* data = nullptr;
  std::size_t bytes = 0;
};

// Bytes of workspace gemm needs when run on `threads` OpenMP threads. Called from
// inside a parallel region, gemm runs on the calling thread alone and uses slice
// omp_get_thread_num() of the workspace, so one workspace of the region's thread
// count serves every thread of the region.
std::size_t gemm_workspace_bytes(int threads);

// op(A) is M x K, op(B) is K x N, C is M x N.
// lda/ldb/ldc are the row strides of A, B, C as stored (before op).
void gemm(Trans trans_a, Trans trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
          int ldb, float beta, float* C, int ldc, const GemmWorkspace* workspace = nullptr);

// The micro-kernel the running CPU got ("avx512", "avx2", "portable").
const char* gemm_kernel_name();

}  // namespace memstrat
