#include "kernels/linear.h"

#include <cstddef>

namespace memstrat {

void linear_forward(float* out, const float* in, const float* weight, const float* bias, int batch, int in_features,
                    int out_features, const GemmWorkspace* gemm_ws) {
  gemm(Trans::no, Trans::yes, batch, out_features, in_features, 1.0f, in, in_features, weight, in_features, 0.0f, out,
       out_features, gemm_ws);
  if (bias == nullptr) return;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < batch; ++n)
    for (int o = 0; o < out_features; ++o) out[std::size_t(n) * out_features + o] += bias[o];
}

void linear_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in, const float* weight,
                     int batch, int in_features, int out_features, const GemmWorkspace* gemm_ws) {
  // dweight (OUT, IN) += dout^T (OUT, N) * in (N, IN)
  gemm(Trans::yes, Trans::no, out_features, in_features, batch, 1.0f, dout, out_features, in, in_features, 1.0f,
       dweight, in_features, gemm_ws);
  if (dbias != nullptr) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < out_features; ++o) {
      float sum = 0.0f;
      for (int n = 0; n < batch; ++n) sum += dout[std::size_t(n) * out_features + o];
      dbias[o] += sum;
    }
  }
  // din (N, IN) = dout (N, OUT) * weight (OUT, IN)
  if (din != nullptr)
    gemm(Trans::no, Trans::no, batch, in_features, out_features, 1.0f, dout, out_features, weight, in_features, 0.0f,
         din, in_features, gemm_ws);
}

}  // namespace memstrat
