#include "kernels/maxpool.h"

#include <cstring>

namespace memstrat {

void maxpool2_forward(float* out, std::uint8_t* argmax, const float* in, const MaxPoolGeometry& g) {
  const int OH = g.out_h(), OW = g.out_w(), planes = g.batch * g.channels;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; ++p) {
    const float* x = in + std::size_t(p) * g.in_h * g.in_w;
    float* y = out + std::size_t(p) * OH * OW;
    std::uint8_t* idx = argmax ? argmax + std::size_t(p) * OH * OW : nullptr;
    for (int oh = 0; oh < OH; ++oh) {
      const float* r0 = x + std::size_t(2 * oh) * g.in_w;
      const float* r1 = r0 + g.in_w;
      for (int ow = 0; ow < OW; ++ow) {
        const float v[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
        int best = 0;
        for (int i = 1; i < 4; ++i)
          if (v[i] > v[best]) best = i;
        y[oh * OW + ow] = v[best];
        if (idx) idx[oh * OW + ow] = std::uint8_t(best);
      }
    }
  }
}

void maxpool2_backward(float* din, const float* dout, const std::uint8_t* argmax, const MaxPoolGeometry& g) {
  const int OH = g.out_h(), OW = g.out_w(), planes = g.batch * g.channels;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; ++p) {
    float* dx = din + std::size_t(p) * g.in_h * g.in_w;
    const float* dy = dout + std::size_t(p) * OH * OW;
    const std::uint8_t* idx = argmax + std::size_t(p) * OH * OW;
    std::memset(dx, 0, sizeof(float) * g.in_h * g.in_w);
    for (int oh = 0; oh < OH; ++oh)
      for (int ow = 0; ow < OW; ++ow) {
        const int k = idx[oh * OW + ow];
        dx[std::size_t(2 * oh + (k >> 1)) * g.in_w + 2 * ow + (k & 1)] = dy[oh * OW + ow];
      }
  }
}

}  // namespace memstrat
