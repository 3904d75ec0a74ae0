// ReLU, fused into the conv and linear layers that precede it (as VGG's
// in-place ReLU): the output is saved once and serves as the backward mask.
#pragma once

#include <cstddef>

namespace memstrat {

// out = max(in, 0); out may alias in.
inline void relu_forward(float* out, const float* in, std::size_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (std::size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

// dinout *= (out > 0), in place on the gradient.
inline void relu_backward(float* dinout, const float* out, std::size_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (std::size_t i = 0; i < n; ++i) dinout[i] = out[i] > 0.0f ? dinout[i] : 0.0f;
}

}  // namespace memstrat
