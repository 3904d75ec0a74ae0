// 2-D convolution through im2col + GEMM, as CPU frameworks do it.
//
// Per image: the input is unfolded into a column matrix (C*K*K, OH*OW) in a
// workspace buffer, and the output is one GEMM, weight (OC, C*K*K) times columns.
// Backward re-unfolds the saved input for the weight gradient and folds
// weight^T * dout back (col2im) for the input gradient, in the same buffer.
//
// Threads: a layer whose GEMM per image is large runs its images one after the
// other, each GEMM over every thread. A narrow one (few channels, small images:
// under kImageParallelMadds multiply-adds an image) would spend its time in the
// fork, join and barriers of many small parallel regions; there every thread
// takes whole images instead, with columns of its own, so the workspace holds
// one column matrix per thread, and backward adds each thread's weight gradient
// into the caller's in a fixed order (bitwise the same for a given thread count);
// with stride 1 its input gradient is a convolution of its own (conv2d_backward).
// Images so small that a GEMM per image would be a few columns wide go several to a
// GEMM: a thread unfolds them side by side into one column matrix (up to 256 columns).
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
  std::size_t weight_elems() const { return std::size_t(out_c) * col_rows(); }
  // A 1x1 convolution with stride 1 and no padding needs no unfolding.
  bool direct() const { return kernel == 1 && stride == 1 && pad == 0; }
};

// Below this many multiply-adds an image, threads take whole images (see above).
inline constexpr double kImageParallelMadds = 64.0 * 1024 * 1024;

// Threads the convolution gives whole images to, at the current OpenMP thread
// count: 1 when it splits each image's GEMM instead.
int conv_image_threads(const ConvGeometry& g);

// Floats of workspace conv2d_forward and conv2d_backward take for g, at the
// current OpenMP thread count (0 for a direct convolution run image by image).
std::size_t conv_forward_workspace_elems(const ConvGeometry& g);
// Backward takes more when it also writes the input gradient (input_grad).
std::size_t conv_backward_workspace_elems(const ConvGeometry& g, bool input_grad = true);

// col (C*K*K, OH*OW) <- image (C, H, W)
void im2col(float* col, const float* image, const ConvGeometry& g);
// image (C, H, W) <- sum of col (C*K*K, OH*OW) folded back; overwrites image.
void col2im(float* image, const float* col, const ConvGeometry& g);

// out (N, OC, OH, OW) = in (N, C, H, W) * weight (OC, C*K*K) + bias (OC), then
// max(., 0) when relu. work: conv_forward_workspace_elems(g) floats.
void conv2d_forward(float* out, const float* in, const float* weight, const float* bias, const ConvGeometry& g,
                    float* work, const GemmWorkspace* gemm_ws, bool relu = false);

// Adds into dweight (OC, C*K*K) and dbias (OC); writes din (N, C, H, W) unless null.
// work: conv_backward_workspace_elems(g, din != nullptr) floats. On the image-parallel
// path with stride 1, din is computed as the convolution of dout by the flipped,
// transposed weights (padding K-1-pad): im2col(dout) and one GEMM of OC*K*K terms, in
// place of weight^T * dout (OC terms) and col2im.
void conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in, const float* weight,
                     const ConvGeometry& g, float* work, const GemmWorkspace* gemm_ws);

}  // namespace memstrat
