// PLACEHOLDER naive GEMM: replaced by the packed SIMD implementation.
#include "kernels/gemm.h"

namespace memstrat {

std::size_t gemm_workspace_bytes(int) { return 0; }
const char* gemm_kernel_name() { return "naive"; }

void gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc, const GemmWorkspace*) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      float sum = 0.0f;
      for (int k = 0; k < K; ++k) {
        const float a = ta == Trans::no ? A[i * lda + k] : A[k * lda + i];
        const float b = tb == Trans::no ? B[k * ldb + j] : B[j * ldb + k];
        sum += a * b;
      }
      C[i * ldc + j] = alpha * sum + (beta == 0.0f ? 0.0f : beta * C[i * ldc + j]);
    }
  }
}

}  // namespace memstrat
