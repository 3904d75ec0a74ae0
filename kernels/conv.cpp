#include "kernels/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

namespace memstrat {
namespace {

// Rows [row0, row1) of im2col, on the calling thread, row r at col + r * ld
// (ld = OH*OW for one image's column matrix, wider when images sit side by side).
void im2col_rows(float* col, std::size_t ld, const float* image, const ConvGeometry& g, int row0, int row1) {
  const int K = g.kernel, OH = g.out_h(), OW = g.out_w();
  for (int row = row0; row < row1; ++row) {
    const int c = row / (K * K), kh = (row / K) % K, kw = row % K;
    const float* plane = image + std::size_t(c) * g.in_h * g.in_w;
    float* dst = col + std::size_t(row) * ld;
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

// Input channels [c0, c1) of col2im, on the calling thread: each channel's plane
// is written only from its own rows of col, in a fixed order.
void col2im_channels(float* image, const float* col, const ConvGeometry& g, int c0, int c1) {
  const int K = g.kernel, OH = g.out_h(), OW = g.out_w();
  for (int c = c0; c < c1; ++c) {
    float* plane = image + std::size_t(c) * g.in_h * g.in_w;
    std::memset(plane, 0, sizeof(float) * g.in_h * g.in_w);
    for (int kh = 0; kh < K; ++kh)
      for (int kw = 0; kw < K; ++kw) {
        const float* src = col + (std::size_t(c) * K * K + kh * K + kw) * OH * OW;
        // Stride 1: the columns that land inside the row are one run, added without a test.
        const int first = g.stride == 1 ? std::max(0, g.pad - kw) : 0;
        const int last = g.stride == 1 ? std::min(OW, g.in_w + g.pad - kw) : OW;
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * g.stride - g.pad + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          float* dst = plane + std::size_t(ih) * g.in_w;
          const float* row = src + std::size_t(oh) * OW;
          if (g.stride == 1) {
            float* d = dst - g.pad + kw;
            for (int ow = first; ow < last; ++ow) d[ow] += row[ow];
          } else {
            for (int ow = 0; ow < OW; ++ow) {
              const int iw = ow * g.stride - g.pad + kw;
              if (iw >= 0 && iw < g.in_w) dst[iw] += row[ow];
            }
          }
        }
      }
  }
}

// y (OC, P) += bias, then max(., 0) when relu: rows [oc0, oc1).
void bias_relu(float* y, const float* bias, bool relu, std::size_t P, int oc0, int oc1) {
  for (int oc = oc0; oc < oc1; ++oc) {
    float* row = y + std::size_t(oc) * P;
    const float b = bias != nullptr ? bias[oc] : 0.0f;
    if (relu)
      for (std::size_t p = 0; p < P; ++p) {
        const float v = row[p] + b;
        row[p] = v > 0.0f ? v : 0.0f;  // as relu_forward
      }
    else if (bias != nullptr)
      for (std::size_t p = 0; p < P; ++p) row[p] += b;
  }
}

// Share [lo, hi) of [0, total) for thread t of nt (images, rows, channels).
void share_of(int total, int t, int nt, int& lo, int& hi) {
  lo = int(static_cast<long long>(total) * t / nt);
  hi = int(static_cast<long long>(total) * (t + 1) / nt);
}

// f(lo, hi) on every thread of a parallel region, each over its share of [0, total).
template <typename F>
void over_threads(int total, F f) {
#pragma omp parallel
  {
    int lo = 0, hi = 0;
    share_of(total, omp_get_thread_num(), omp_get_num_threads(), lo, hi);
    f(lo, hi);
  }
}

std::size_t columns_elems(const ConvGeometry& g) { return g.direct() ? 0 : g.col_elems(); }

// Stride 1, on the image-parallel path: the input gradient is itself a
// convolution, of dout by the weights flipped and transposed to (C, OC*K*K), with
// padding K-1-pad. One GEMM with OC*K*K terms a sum over im2col(dout) replaces
// weight^T * dout (OC terms: few when channels are narrow) and the col2im after it.
// Not where the layer widens (OC > C): unfolding dout then copies more than col2im
// adds back (memstrat-micro, vgg-mini's conv3_1 backward, 64 to 128 channels:
// 4.43 ms this way, 3.93 ms the textbook way).
bool input_grad_by_conv(const ConvGeometry& g, int image_threads) {
  return image_threads > 1 && g.stride == 1 && !g.direct() && g.pad <= g.kernel - 1 && g.out_c <= g.in_c;
}

// The convolution that gives the input gradient: dout (OC, OH, OW) in, din (C, H, W) out.
ConvGeometry input_grad_geometry(const ConvGeometry& g) {
  return {g.batch, g.out_c, g.out_h(), g.out_w(), g.in_c, g.kernel, 1, g.kernel - 1 - g.pad};
}

// wt (C, OC*K*K) <- weight (OC, C*K*K), each kernel turned by 180 degrees.
void flip_transpose(float* wt, const float* weight, const ConvGeometry& g) {
  const int KK = g.kernel * g.kernel;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < g.in_c; ++c)
    for (int oc = 0; oc < g.out_c; ++oc)
      for (int k = 0; k < KK; ++k)
        wt[(std::size_t(c) * g.out_c + oc) * KK + k] = weight[(std::size_t(oc) * g.in_c + c) * KK + (KK - 1 - k)];
}

// A thread's columns in backward: the input's, and dout's when they give the input gradient.
std::size_t backward_columns_elems(const ConvGeometry& g, int image_threads, bool input_grad) {
  std::size_t n = columns_elems(g);
  if (input_grad && input_grad_by_conv(g, image_threads)) n = std::max(n, input_grad_geometry(g).col_elems());
  return n;
}

// On the image-parallel path a thread puts G images side by side in one column
// matrix, as many as keep G*OH*OW within this many columns, so that one GEMM has
// G*OH*OW of them: small images (VGG16's 2x2 and 4x4 layers at 32x32) would leave
// most of its 32-column tiles empty (memstrat-micro: its 2x2 layer's forward 4x
// faster), and 8x8 ones gain a little from the longer rows.
constexpr int kGroupColumns = 256;

int group_images(const ConvGeometry& g, int image_threads) {
  if (image_threads <= 1 || g.direct()) return 1;
  const int per_thread = (g.batch + image_threads - 1) / image_threads;
  return std::max(1, std::min(per_thread, kGroupColumns / int(g.col_cols())));
}

// Images [n, n + gn) as gn column blocks of width P side by side: block j of
// every row r of wide (rows, gn*P) to/from image n + j's (rows, P) at images + (n + j) * stride.
void gather(float* wide, const float* images, std::size_t stride, int n, int gn, int rows, std::size_t P) {
  for (int j = 0; j < gn; ++j)
    for (int r = 0; r < rows; ++r)
      std::memcpy(wide + std::size_t(r) * gn * P + j * P, images + (n + j) * stride + r * P, sizeof(float) * P);
}
void scatter(float* images, std::size_t stride, const float* wide, int n, int gn, int rows, std::size_t P) {
  for (int j = 0; j < gn; ++j)
    for (int r = 0; r < rows; ++r)
      std::memcpy(images + (n + j) * stride + r * P, wide + std::size_t(r) * gn * P + j * P, sizeof(float) * P);
}

// One thread's workspace on the image-parallel path: its columns (G images wide),
// and when G > 1 the wide output (forward), dout and input gradient (backward).
std::size_t forward_thread_elems(const ConvGeometry& g, int T) {
  const int G = group_images(g, T);
  return std::size_t(G) * columns_elems(g) + (G > 1 ? std::size_t(G) * g.out_c * g.col_cols() : 0);
}
// Backward groups images when the input gradient is not wanted or is a convolution.
int backward_group_images(const ConvGeometry& g, int T, bool input_grad) {
  return input_grad && !input_grad_by_conv(g, T) ? 1 : group_images(g, T);
}
std::size_t backward_thread_elems(const ConvGeometry& g, int T, bool input_grad) {
  const int G = backward_group_images(g, T, input_grad);
  std::size_t n = std::size_t(G) * backward_columns_elems(g, T, input_grad);
  if (G > 1) n += std::size_t(G) * g.out_c * g.col_cols();
  if (G > 1 && input_grad && input_grad_by_conv(g, T)) n += std::size_t(G) * g.in_c * g.in_h * g.in_w;
  return n;
}

}  // namespace

int conv_image_threads(const ConvGeometry& g) {
  const int threads = omp_get_level() > 0 ? 1 : omp_get_max_threads();
  const double madds = double(g.out_c) * double(g.col_cols()) * double(g.col_rows());
  if (threads <= 1 || g.batch <= 1 || madds >= kImageParallelMadds) return 1;
  return std::min(threads, g.batch);
}

std::size_t conv_forward_workspace_elems(const ConvGeometry& g) {
  const int T = conv_image_threads(g);
  return std::size_t(T) * forward_thread_elems(g, T);
}

std::size_t conv_backward_workspace_elems(const ConvGeometry& g, bool input_grad) {
  const int T = conv_image_threads(g);
  const std::size_t flipped = input_grad && input_grad_by_conv(g, T) ? g.weight_elems() : 0;
  return std::size_t(T) * backward_thread_elems(g, T, input_grad) + flipped + std::size_t(T - 1) * g.weight_elems();
}

void im2col(float* col, const float* image, const ConvGeometry& g) {
  over_threads(int(g.col_rows()), [&](int lo, int hi) { im2col_rows(col, g.col_cols(), image, g, lo, hi); });
}

void col2im(float* image, const float* col, const ConvGeometry& g) {
  over_threads(g.in_c, [&](int lo, int hi) { col2im_channels(image, col, g, lo, hi); });
}

void conv2d_forward(float* out, const float* in, const float* weight, const float* bias, const ConvGeometry& g,
                    float* work, const GemmWorkspace* gemm_ws, bool relu) {
  const int M = g.out_c, N = int(g.col_cols()), K = int(g.col_rows());
  const std::size_t in_image = std::size_t(g.in_c) * g.in_h * g.in_w;
  const int T = conv_image_threads(g);
  if (T > 1) {
#pragma omp parallel num_threads(T)
    {
      const int t = omp_get_thread_num(), G = group_images(g, T);
      float* col = work + std::size_t(t) * forward_thread_elems(g, T);
      float* wide = col + std::size_t(G) * columns_elems(g);  // used when G > 1
      int lo = 0, hi = 0;
      share_of(g.batch, t, omp_get_num_threads(), lo, hi);
      for (int n = lo; n < hi; n += G) {
        const int gn = std::min(G, hi - n), L = gn * N;
        for (int j = 0; j < gn && !g.direct(); ++j)
          im2col_rows(col + j * N, std::size_t(L), in + (n + j) * in_image, g, 0, K);
        float* y = gn > 1 ? wide : out + std::size_t(n) * M * N;
        gemm(Trans::no, Trans::no, M, L, K, 1.0f, weight, K, g.direct() ? in + n * in_image : col, L, 0.0f, y, L,
             gemm_ws);
        if (gn > 1) scatter(out, std::size_t(M) * N, wide, n, gn, M, std::size_t(N));
        for (int j = 0; j < gn; ++j) bias_relu(out + std::size_t(n + j) * M * N, bias, relu, std::size_t(N), 0, M);
      }
    }
    return;
  }
  for (int n = 0; n < g.batch; ++n) {
    float* y = out + std::size_t(n) * M * N;
    const float* columns = g.direct() ? in + n * in_image : work;
    if (!g.direct()) im2col(work, in + n * in_image, g);
    gemm(Trans::no, Trans::no, M, N, K, 1.0f, weight, K, columns, N, 0.0f, y, N, gemm_ws);
    if (bias != nullptr || relu)
      over_threads(M, [&](int lo, int hi) { bias_relu(y, bias, relu, std::size_t(N), lo, hi); });
  }
}

void conv2d_backward(float* din, float* dweight, float* dbias, const float* dout, const float* in, const float* weight,
                     const ConvGeometry& g, float* work, const GemmWorkspace* gemm_ws) {
  const int M = g.out_c, N = int(g.col_cols()), K = int(g.col_rows());
  const std::size_t in_image = std::size_t(g.in_c) * g.in_h * g.in_w;
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
  const int T = conv_image_threads(g);
  const std::size_t W = g.weight_elems(), columns = backward_columns_elems(g, T, din != nullptr);
  const std::size_t per_thread = backward_thread_elems(g, T, din != nullptr);
  const int G = backward_group_images(g, T, din != nullptr);
  const bool by_conv = din != nullptr && input_grad_by_conv(g, T);
  float* flipped = work + std::size_t(T) * per_thread;  // used when by_conv
  float* partials = flipped + (by_conv ? W : 0);        // used when T > 1
  if (by_conv) flip_transpose(flipped, weight, g);
  const ConvGeometry gt = input_grad_geometry(g);
  // One image's gradients: dweight (OC, CKK) += dy (OC, OHW) * columns^T, where
  // beta says whether dw already holds a sum; din (C, HW) = weight^T (C, OC) * dy,
  // through col2im unless direct, or when by_conv flipped (C, OC*K*K) * im2col(dy).
  // `parallel`: im2col and col2im over every thread.
  auto image = [&](int n, float* dw, float beta, float* col, bool parallel) {
    const float* x = in + n * in_image;
    const float* dy = dout + std::size_t(n) * M * N;
    if (!g.direct()) {
      if (parallel)
        im2col(col, x, g);
      else
        im2col_rows(col, g.col_cols(), x, g, 0, K);
    }
    gemm(Trans::no, Trans::yes, M, K, N, 1.0f, dy, N, g.direct() ? x : col, N, beta, dw, K, gemm_ws);
    if (din == nullptr) return;
    float* dx = din + n * in_image;
    if (g.direct()) {
      gemm(Trans::yes, Trans::no, K, N, M, 1.0f, weight, K, dy, N, 0.0f, dx, N, gemm_ws);
    } else if (by_conv) {
      const int rows = int(gt.col_rows()), cols = int(gt.col_cols());
      im2col_rows(col, std::size_t(cols), dy, gt, 0, rows);
      gemm(Trans::no, Trans::no, g.in_c, cols, rows, 1.0f, flipped, rows, col, cols, 0.0f, dx, cols, gemm_ws);
    } else {
      gemm(Trans::yes, Trans::no, K, N, M, 1.0f, weight, K, dy, N, 0.0f, col, N, gemm_ws);
      if (parallel)
        col2im(dx, col, g);
      else
        col2im_channels(dx, col, g, 0, g.in_c);
    }
  };
  // Images [n, n + gn) side by side (G > 1, not direct): one GEMM for their weight
  // gradient over dout gathered into dyw, one for their input gradient (by_conv) into dxw.
  auto group = [&](int n, int gn, float* dw, float beta, float* col, float* dyw, float* dxw) {
    const int L = gn * N;
    for (int j = 0; j < gn; ++j) im2col_rows(col + j * N, std::size_t(L), in + (n + j) * in_image, g, 0, K);
    gather(dyw, dout, std::size_t(M) * N, n, gn, M, std::size_t(N));
    gemm(Trans::no, Trans::yes, M, K, L, 1.0f, dyw, L, col, L, beta, dw, K, gemm_ws);
    if (din == nullptr) return;
    const int rows = int(gt.col_rows()), cols = int(gt.col_cols()), Lt = gn * cols;
    for (int j = 0; j < gn; ++j)
      im2col_rows(col + j * cols, std::size_t(Lt), dout + std::size_t(n + j) * M * N, gt, 0, rows);
    gemm(Trans::no, Trans::no, g.in_c, Lt, rows, 1.0f, flipped, rows, col, Lt, 0.0f, dxw, Lt, gemm_ws);
    scatter(din, in_image, dxw, n, gn, g.in_c, std::size_t(cols));
  };
  if (T == 1) {
    for (int n = 0; n < g.batch; ++n) image(n, dweight, 1.0f, work, true);
    return;
  }
  // Thread 0 adds its images into dweight; thread t > 0 sums its own into a
  // buffer of its own, and the buffers are added to dweight in thread order.
#pragma omp parallel num_threads(T)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    float* col = work + std::size_t(t) * per_thread;
    float* dyw = col + std::size_t(G) * columns;  // G > 1
    float* dxw = dyw + std::size_t(G) * M * N;    // G > 1 and by_conv
    float* dw = t == 0 ? dweight : partials + std::size_t(t - 1) * W;
    int lo = 0, hi = 0;
    share_of(g.batch, t, nt, lo, hi);
    if (t > 0 && lo == hi) std::fill(dw, dw + W, 0.0f);
    for (int n = lo; n < hi; n += G) {
      const int gn = std::min(G, hi - n);
      const float beta = t == 0 || n > lo ? 1.0f : 0.0f;
      if (gn == 1)
        image(n, dw, beta, col, false);
      else
        group(n, gn, dw, beta, col, dyw, dxw);
    }
#pragma omp barrier
#pragma omp for schedule(static)
    for (std::size_t i = 0; i < W; ++i) {
      float sum = dweight[i];
      for (int p = 1; p < nt; ++p) sum += partials[std::size_t(p - 1) * W + i];
      dweight[i] = sum;
    }
  }
}

}  // namespace memstrat
