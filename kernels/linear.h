// Fully connected layer: out (N, OUT) = in (N, IN) * weight^T + bias, weight (OUT, IN).
#pragma once

#include "kernels/gemm.h"

namespace memstrat {

void linear_forward(float* out, const float* in, const float* weight, const float* bias, int batch, int in_features,
                    int out_features, const GemmWorkspace* gemm_ws);

// Adds into dweight and dbias; writes din unless null.
void linear_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in, const float* weight,
                     int batch, int in_features, int out_features, const GemmWorkspace* gemm_ws);

}  // namespace memstrat
