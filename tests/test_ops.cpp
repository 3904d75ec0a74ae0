// The ops against direct references, and finite-difference checks of every backward.
//
// Gradient checks: L = sum(out * R) for a fixed random R, so dL/dout = R. Each
// analytic derivative is compared with a central difference (eps = 1e-2) of L
// computed in double from float outputs. The ops checked are linear in what is
// perturbed (or piecewise linear, with inputs kept away from the kinks), so the
// only error is float rounding: tolerance |analytic - numeric| <= 2e-3 + 1e-2 * |numeric|.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <vector>

#include "kernels/conv.h"
#include "kernels/linear.h"
#include "kernels/loss.h"
#include "kernels/maxpool.h"
#include "tests/support.h"
#include "kernels/relu.h"
#include "kernels/tensor.h"

using namespace memstrat;

namespace {

std::vector<float> randn(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// Checks d loss / d x[i] for a sample of indices of x against `analytic`.
void check_gradient(std::vector<float>& x, const std::vector<float>& analytic, const std::function<double()>& loss,
                    const char* what) {
  REQUIRE(x.size() == analytic.size());
  const float eps = 1e-2f;
  const std::size_t stride = std::max<std::size_t>(1, x.size() / 40);
  for (std::size_t i = 0; i < x.size(); i += stride) {
    const float saved = x[i];
    x[i] = saved + eps;
    const double up = loss();
    x[i] = saved - eps;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2.0 * eps);
    INFO(what << "[" << i << "] analytic " << analytic[i] << " numeric " << numeric);
    CHECK(std::fabs(analytic[i] - numeric) <= 2e-3 + 1e-2 * std::fabs(numeric));
  }
}

// Direct convolution, the definition.
std::vector<float> direct_conv(const std::vector<float>& in, const std::vector<float>& w, const std::vector<float>& b,
                               const ConvGeometry& g) {
  const int OH = g.out_h(), OW = g.out_w(), K = g.kernel;
  std::vector<float> out(std::size_t(g.batch) * g.out_c * OH * OW);
  for (int n = 0; n < g.batch; ++n)
    for (int oc = 0; oc < g.out_c; ++oc)
      for (int oh = 0; oh < OH; ++oh)
        for (int ow = 0; ow < OW; ++ow) {
          double s = b[oc];
          for (int c = 0; c < g.in_c; ++c)
            for (int kh = 0; kh < K; ++kh)
              for (int kw = 0; kw < K; ++kw) {
                const int ih = oh * g.stride - g.pad + kh, iw = ow * g.stride - g.pad + kw;
                if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
                s += double(in[((std::size_t(n) * g.in_c + c) * g.in_h + ih) * g.in_w + iw]) *
                     w[((std::size_t(oc) * g.in_c + c) * K + kh) * K + kw];
              }
          out[((std::size_t(n) * g.out_c + oc) * OH + oh) * OW + ow] = float(s);
        }
  return out;
}

}  // namespace

TEST_CASE("conv2d forward equals the direct convolution", "[ops]") {
  const ConvGeometry shapes[] = {
      {2, 3, 8, 8, 4, 3, 1, 1}, {1, 2, 7, 5, 3, 3, 2, 1}, {2, 5, 6, 6, 7, 1, 1, 0},
      {1, 1, 5, 5, 1, 5, 1, 2}, {3, 4, 9, 9, 2, 3, 2, 0}, {1, 16, 4, 4, 8, 3, 1, 1},
  };
  for (const ConvGeometry& g : shapes) {
    const auto in = randn(std::size_t(g.batch) * g.in_c * g.in_h * g.in_w, 1);
    const auto w = randn(std::size_t(g.out_c) * g.col_rows(), 2);
    const auto b = randn(std::size_t(g.out_c), 3);
    std::vector<float> out(std::size_t(g.batch) * g.out_c * g.col_cols()), col(conv_forward_workspace_elems(g));
    conv2d_forward(out.data(), in.data(), w.data(), b.data(), g, col.data(), nullptr);
    const auto expected = direct_conv(in, w, b, g);
    for (std::size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == Approx(expected[i]).margin(1e-4));
  }
}

TEST_CASE("im2col and col2im are adjoint", "[ops]") {
  // <im2col(x), c> == <x, col2im(c)> for any x and c: col2im is the exact transpose.
  const ConvGeometry g{1, 3, 7, 6, 1, 3, 2, 1};
  const auto x = randn(std::size_t(g.in_c) * g.in_h * g.in_w, 4);
  const auto c = randn(g.col_elems(), 5);
  std::vector<float> col(g.col_elems()), folded(x.size());
  im2col(col.data(), x.data(), g);
  col2im(folded.data(), c.data(), g);
  REQUIRE(dot(col, c) == Approx(dot(x, folded)).epsilon(1e-5));
}

TEST_CASE("conv2d backward matches finite differences", "[ops]") {
  // On one thread (image by image), and on two (whole images a thread; with stride 1 and
  // no more output channels than input ones, the last two, the input gradient as a
  // convolution of dout, padded 2 - pad; widening layers the textbook way).
  const ConvGeometry shapes[] = {{2, 3, 6, 6, 4, 3, 1, 1},
                                 {1, 2, 7, 7, 3, 3, 2, 0},
                                 {2, 4, 5, 5, 3, 1, 1, 0},
                                 {3, 3, 6, 5, 2, 3, 1, 0},
                                 {2, 3, 5, 5, 2, 3, 1, 2}};
  for (const int threads : {1, 2})
    for (const ConvGeometry& g : shapes) {
      INFO(threads << " threads, batch " << g.batch << ", pad " << g.pad);
      const test::Threads t(threads);
      auto in = randn(std::size_t(g.batch) * g.in_c * g.in_h * g.in_w, 6);
      auto w = randn(std::size_t(g.out_c) * g.col_rows(), 7, 0.5f);
      auto b = randn(std::size_t(g.out_c), 8);
      const auto r = randn(std::size_t(g.batch) * g.out_c * g.col_cols(), 9);
      std::vector<float> out(r.size()), col(conv_backward_workspace_elems(g));
      auto loss = [&] {
        conv2d_forward(out.data(), in.data(), w.data(), b.data(), g, col.data(), nullptr);
        return dot(out, r);
      };
      std::vector<float> din(in.size()), dw(w.size(), 0.0f), db(b.size(), 0.0f);
      conv2d_backward(din.data(), dw.data(), db.data(), r.data(), in.data(), w.data(), g, col.data(), nullptr);
      check_gradient(in, din, loss, "conv din");
      check_gradient(w, dw, loss, "conv dweight");
      check_gradient(b, db, loss, "conv dbias");
    }
}

TEST_CASE("conv2d backward accumulates into weight gradients", "[ops]") {
  const ConvGeometry g{1, 2, 5, 5, 2, 3, 1, 1};
  const auto in = randn(std::size_t(g.in_c) * g.in_h * g.in_w, 10);
  const auto w = randn(std::size_t(g.out_c) * g.col_rows(), 11);
  const auto r = randn(std::size_t(g.out_c) * g.col_cols(), 12);
  std::vector<float> col(conv_backward_workspace_elems(g)), once(w.size(), 0.0f), db(2, 0.0f);
  conv2d_backward(nullptr, once.data(), db.data(), r.data(), in.data(), w.data(), g, col.data(), nullptr);
  std::vector<float> twice = once;
  conv2d_backward(nullptr, twice.data(), db.data(), r.data(), in.data(), w.data(), g, col.data(), nullptr);
  for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(twice[i] == Approx(2 * once[i]).margin(1e-5));
}

TEST_CASE("a narrow conv gives each thread whole images and learns what one thread learns", "[ops]") {
  // 5 images over 2 threads (2 and 3), padded and strided, a direct 1x1 one, and a vgg-mini-like one;
  // then images small enough that a thread puts several side by side in one GEMM (4x4: 4 of them;
  // 2x2: 3 and 4, VGG16's last layers at 32x32), forward and backward.
  const ConvGeometry shapes[] = {{5, 6, 9, 9, 7, 3, 1, 1},     {5, 4, 9, 8, 3, 3, 2, 1}, {5, 6, 5, 5, 4, 1, 1, 0},
                                 {9, 32, 16, 16, 32, 3, 1, 1}, {8, 6, 4, 4, 5, 3, 1, 1}, {7, 4, 2, 2, 6, 3, 1, 1}};
  for (const ConvGeometry& g : shapes) {
    const auto in = randn(std::size_t(g.batch) * g.in_c * g.in_h * g.in_w, 13);
    const auto w = randn(g.weight_elems(), 14);
    const auto b = randn(std::size_t(g.out_c), 15);
    const auto dout = randn(std::size_t(g.batch) * g.out_c * g.col_cols(), 16);
    struct Result {
      std::vector<float> out, din, dw, db;
    };
    auto run = [&](int threads) {
      const test::Threads t(threads);
      REQUIRE(conv_image_threads(g) == threads);
      Result r{std::vector<float>(dout.size()), std::vector<float>(in.size()), std::vector<float>(w.size(), 0.5f),
               std::vector<float>(b.size(), 0.0f)};
      // One GEMM workspace for the threads, as the trainer passes: each thread packs into its own slice.
      std::vector<float> packing((gemm_workspace_bytes(threads) + 64) / sizeof(float));
      const GemmWorkspace gemm_ws{packing.data(), packing.size() * sizeof(float)};
      std::vector<float> work(conv_forward_workspace_elems(g));
      conv2d_forward(r.out.data(), in.data(), w.data(), b.data(), g, work.data(), &gemm_ws, true);
      work.assign(conv_backward_workspace_elems(g), 0.0f);
      conv2d_backward(r.din.data(), r.dw.data(), r.db.data(), dout.data(), in.data(), w.data(), g, work.data(),
                      &gemm_ws);
      return r;
    };
    const Result one = run(1), two = run(2);
    // Each output element is the same sum in the same order, images side by side or not: bitwise equal.
    REQUIRE(one.out == two.out);
    REQUIRE(one.db == two.db);
    // With stride 1 the input gradient is a convolution of dout (other sums, the same values).
    for (std::size_t i = 0; i < in.size(); ++i) REQUIRE(two.din[i] == Approx(one.din[i]).epsilon(1e-4).margin(1e-4));
    // The weight gradient adds the second thread's images after the first's: the same within rounding.
    for (std::size_t i = 0; i < w.size(); ++i) REQUIRE(two.dw[i] == Approx(one.dw[i]).epsilon(1e-5).margin(1e-5));
    // Fused ReLU: the forward's negatives are zero, and the rest is the direct convolution's.
    const auto expected = direct_conv(in, w, b, g);
    for (std::size_t i = 0; i < expected.size(); ++i)
      REQUIRE(two.out[i] == Approx(std::max(expected[i], 0.0f)).margin(1e-4));
  }
}

TEST_CASE("maxpool forward picks maxima and backward matches finite differences", "[ops]") {
  const MaxPoolGeometry g{2, 3, 6, 7};  // odd width: the last column is dropped
  // Distinct values spaced 0.05 apart keep every window's winner stable under eps.
  std::vector<float> in(std::size_t(g.batch) * g.channels * g.in_h * g.in_w);
  Rng rng(13);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = 0.05f * float(i);
  for (std::size_t i = in.size() - 1; i > 0; --i) std::swap(in[i], in[rng.next_u64() % (i + 1)]);
  std::vector<float> out(g.out_elems());
  std::vector<std::uint8_t> argmax(g.out_elems());
  maxpool2_forward(out.data(), argmax.data(), in.data(), g);
  for (int p = 0; p < g.batch * g.channels; ++p)
    for (int oh = 0; oh < g.out_h(); ++oh)
      for (int ow = 0; ow < g.out_w(); ++ow) {
        const float* x = in.data() + std::size_t(p) * g.in_h * g.in_w;
        const float m = std::max({x[2 * oh * g.in_w + 2 * ow], x[2 * oh * g.in_w + 2 * ow + 1],
                                  x[(2 * oh + 1) * g.in_w + 2 * ow], x[(2 * oh + 1) * g.in_w + 2 * ow + 1]});
        REQUIRE(out[(std::size_t(p) * g.out_h() + oh) * g.out_w() + ow] == m);
      }
  const auto r = randn(out.size(), 14);
  std::vector<float> din(in.size());
  maxpool2_backward(din.data(), r.data(), argmax.data(), g);
  check_gradient(
      in, din,
      [&] {
        maxpool2_forward(out.data(), nullptr, in.data(), g);
        return dot(out, r);
      },
      "maxpool din");
}

TEST_CASE("linear backward matches finite differences", "[ops]") {
  const int batch = 3, in_f = 17, out_f = 5;
  auto in = randn(std::size_t(batch) * in_f, 15);
  auto w = randn(std::size_t(out_f) * in_f, 16, 0.5f);
  auto b = randn(out_f, 17);
  const auto r = randn(std::size_t(batch) * out_f, 18);
  std::vector<float> out(r.size());
  auto loss = [&] {
    linear_forward(out.data(), in.data(), w.data(), b.data(), batch, in_f, out_f, nullptr);
    return dot(out, r);
  };
  std::vector<float> din(in.size()), dw(w.size(), 0.0f), db(b.size(), 0.0f);
  linear_backward(din.data(), dw.data(), db.data(), r.data(), in.data(), w.data(), batch, in_f, out_f, nullptr);
  check_gradient(in, din, loss, "linear din");
  check_gradient(w, dw, loss, "linear dweight");
  check_gradient(b, db, loss, "linear dbias");
}

TEST_CASE("relu backward matches finite differences", "[ops]") {
  auto x = randn(200, 19);
  for (auto& v : x) v += v >= 0 ? 0.1f : -0.1f;  // away from the kink
  const auto r = randn(x.size(), 20);
  std::vector<float> y(x.size());
  auto loss = [&] {
    relu_forward(y.data(), x.data(), x.size());
    return dot(y, r);
  };
  loss();
  std::vector<float> dx = r;
  relu_backward(dx.data(), y.data(), dx.size());
  check_gradient(x, dx, loss, "relu dx");
}

TEST_CASE("softmax cross-entropy: value and gradient", "[ops]") {
  const int batch = 4, classes = 6;
  auto logits = randn(std::size_t(batch) * classes, 21, 2.0f);
  const std::int32_t labels[batch] = {0, 5, 2, 2};
  std::vector<float> dlogits(logits.size());
  // Uniform logits give ln(classes) per sample.
  std::vector<float> flat(logits.size(), 0.5f);
  REQUIRE(softmax_cross_entropy(dlogits.data(), flat.data(), labels, batch, classes, 1.0f) ==
          Approx(batch * std::log(double(classes))));
  softmax_cross_entropy(dlogits.data(), logits.data(), labels, batch, classes, 1.0f);
  std::vector<float> scratch(logits.size());
  check_gradient(
      logits, dlogits,
      [&] { return softmax_cross_entropy(scratch.data(), logits.data(), labels, batch, classes, 1.0f); },
      "softmax dlogits");
  // Each row of the gradient sums to zero.
  for (int n = 0; n < batch; ++n) {
    double s = 0;
    for (int k = 0; k < classes; ++k) s += dlogits[n * classes + k];
    REQUIRE(std::fabs(s) < 1e-6);
  }
}
