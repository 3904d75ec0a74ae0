// 2x2 max pooling with stride 2 (odd trailing rows and columns are dropped).
// Forward records which of the four inputs won as one byte per output, which is
// all backward needs: far less than saving the input.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memstrat {

struct MaxPoolGeometry {
  int batch, channels, in_h, in_w;
  int out_h() const { return in_h / 2; }
  int out_w() const { return in_w / 2; }
  std::size_t out_elems() const { return std::size_t(batch) * channels * out_h() * out_w(); }
};

// out (N, C, H/2, W/2); argmax (same count, 0..3) unless null.
void maxpool2_forward(float* out, std::uint8_t* argmax, const float* in, const MaxPoolGeometry& g);
// din (N, C, H, W) <- dout routed to the winners; overwrites din.
void maxpool2_backward(float* din, const float* dout, const std::uint8_t* argmax, const MaxPoolGeometry& g);

}  // namespace memstrat
