// 2-D convolution through im2col + GEMM, as CPU frameworks do it.
//
// Per image: the input is unfolded into a column matrix (C*K*K, OH*OW) in a
// workspace buffer, and the output is one GEMM, weight (OC, C*K*K) times columns.
// Backward re-unfolds the saved input for the weight gradient and folds
// weight^T * dout back (col2im) for the input gradient, in the same buffer.
#pragma once

#include <cstddef>

#include "kernels/gemm.h"

namespace memstrat {

struct ConvGeometry {
  int batch, in_c, in_h, in_w, out_c, kernel, stride, pad;
  int out_h() const { return (in_h + 2 * pad - kernel) / stride + 1; }
  int out_w() const { return (in_w + 2 * pad - kernel) / stride + 1; }
  std::size_t col_rows() const { return std::size_t(in_c) * kernel * kernel; }
  std::size_t col_cols() const { return std::size_t(out_h()) * out_w(); }
  std::size_t col_elems() const { return col_rows() * col_cols(); }
};

// col (C*K*K, OH*OW) <- image (C, H, W)
void im2col(float* col, const float* image, const ConvGeometry& g);
// image (C, H, W) <- sum of col (C*K*K, OH*OW) folded back; overwrites image.
void col2im(float* image, const float* col, const ConvGeometry& g);

// out (N, OC, OH, OW) = in (N, C, H, W) * weight (OC, C*K*K) + bias (OC).
// col: workspace of g.col_elems() floats.
void conv2d_forward(float* out, const float* in, const float* weight, const float* bias, const ConvGeometry& g,
                    float* col, const GemmWorkspace* gemm_ws);

// Adds into dweight (OC, C*K*K) and dbias (OC); writes din (N, C, H, W) unless null.
void conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in, const float* weight,
                     const ConvGeometry& g, float* col, const GemmWorkspace* gemm_ws);

}  // namespace memstrat
