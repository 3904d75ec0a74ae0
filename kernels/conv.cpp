#include "kernels/conv.h"

#include <algorithm>
#include <cstring>

namespace memstrat {

void im2col(float* col, const float* image, const ConvGeometry& g) {
  const int K = g.kernel, OH = g.out_h(), OW = g.out_w();
  const int rows = int(g.col_rows());
#pragma omp parallel for schedule(static)
  for (int row = 0; row < rows; ++row) {
    const int c = row / (K * K), kh = (row / K) % K, kw = row % K;
    const float* plane = image + std::size_t(c) * g.in_h * g.in_w;
    float* dst = col + std::size_t(row) * OH * OW;
    for (int oh = 0; oh < OH; ++oh) {
      const int ih = oh * g.stride - g.pad + kh;
      float* out = dst + std::size_t(oh) * OW;
      if (ih < 0 || ih >= g.in_h) {
        std::memset(out, 0, sizeof(float) * OW);
        continue;
      }
      const float* src = plane + std::size_t(ih) * g.in_w;
      if (g.stride == 1) {
        // Columns whose input falls inside the row form one contiguous run.
        const int first = std::max(0, g.pad - kw), last = std::min(OW, g.in_w + g.pad - kw);
        for (int ow = 0; ow < first; ++ow) out[ow] = 0.0f;
        if (last > first) std::memcpy(out + first, src + first - g.pad + kw, sizeof(float) * (last - first));
        for (int ow = std::max(first, last); ow < OW; ++ow) out[ow] = 0.0f;
      } else {
        for (int ow = 0; ow < OW; ++ow) {
          const int iw = ow * g.stride - g.pad + kw;
          out[ow] = (iw >= 0 && iw < g.in_w) ? src[iw] : 0.0f;
        }
      }
    }
  }
}

void col2im(float* image, const float* col, const ConvGeometry& g) {
  const int K = g.kernel, OH = g.out_h(), OW = g.out_w();
  // One thread per input channel: each writes only its own plane, in a fixed order.
#pragma omp parallel for schedule(static)
  for (int c = 0; c < g.in_c; ++c) {
    float* plane = image + std::size_t(c) * g.in_h * g.in_w;
    std::memset(plane, 0, sizeof(float) * g.in_h * g.in_w);
    for (int kh = 0; kh < K; ++kh)
      for (int kw = 0; kw < K; ++kw) {
        const float* src = col + (std::size_t(c) * K * K + kh * K + kw) * OH * OW;
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * g.stride - g.pad + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          float* dst = plane + std::size_t(ih) * g.in_w;
          const float* row = src + std::size_t(oh) * OW;
          for (int ow = 0; ow < OW; ++ow) {
            const int iw = ow * g.stride - g.pad + kw;
            if (iw >= 0 && iw < g.in_w) dst[iw] += row[ow];
          }
        }
      }
  }
}

void conv2d_forward(float* out, const float* in, const float* weight, const float* bias, const ConvGeometry& g,
                    float* col, const GemmWorkspace* gemm_ws) {
  const int M = g.out_c, N = int(g.col_cols()), K = int(g.col_rows());
  const std::size_t in_image = std::size_t(g.in_c) * g.in_h * g.in_w;
  for (int n = 0; n < g.batch; ++n) {
    float* y = out + std::size_t(n) * M * N;
    // A 1x1 convolution with stride 1 and no padding needs no unfolding.
    const bool direct = g.kernel == 1 && g.stride == 1 && g.pad == 0;
    const float* columns = direct ? in + n * in_image : col;
    if (!direct) im2col(col, in + n * in_image, g);
    gemm(Trans::no, Trans::no, M, N, K, 1.0f, weight, K, columns, N, 0.0f, y, N, gemm_ws);
    if (bias != nullptr) {
#pragma omp parallel for schedule(static)
      for (int oc = 0; oc < M; ++oc) {
        float* row = y + std::size_t(oc) * N;
        const float b = bias[oc];
        for (int p = 0; p < N; ++p) row[p] += b;
      }
    }
  }
}

void conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in, const float* weight,
                     const ConvGeometry& g, float* col, const GemmWorkspace* gemm_ws) {
  const int M = g.out_c, N = int(g.col_cols()), K = int(g.col_rows());
  const std::size_t in_image = std::size_t(g.in_c) * g.in_h * g.in_w;
  const bool direct = g.kernel == 1 && g.stride == 1 && g.pad == 0;
  if (dbias != nullptr) {
    // Sums over the batch in a fixed order, so the result does not depend on threads.
#pragma omp parallel for schedule(static)
    for (int oc = 0; oc < M; ++oc) {
      double sum = 0.0;
      for (int n = 0; n < g.batch; ++n) {
        const float* row = dout + (std::size_t(n) * M + oc) * N;
        float partial = 0.0f;
        for (int p = 0; p < N; ++p) partial += row[p];
        sum += partial;
      }
      dbias[oc] += float(sum);
    }
  }
  for (int n = 0; n < g.batch; ++n) {
    const float* dy = dout + std::size_t(n) * M * N;
    const float* columns = direct ? in + n * in_image : col;
    if (!direct) im2col(col, in + n * in_image, g);
    // dweight (OC, CKK) += dy (OC, OHW) * columns^T
    gemm(Trans::no, Trans::yes, M, K, N, 1.0f, dy, N, columns, N, 1.0f, dweight, K, gemm_ws);
    if (din == nullptr) continue;
    if (direct) {
      // din (C, HW) = weight^T (C, OC) * dy (OC, HW)
      gemm(Trans::yes, Trans::no, K, N, M, 1.0f, weight, K, dy, N, 0.0f, din + n * in_image, N, gemm_ws);
    } else {
      gemm(Trans::yes, Trans::no, K, N, M, 1.0f, weight, K, dy, N, 0.0f, col, N, gemm_ws);
      col2im(din + n * in_image, col, g);
    }
  }
}

}  // namespace memstrat
