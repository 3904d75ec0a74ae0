// The three layer kinds: convolution (+ReLU), 2x2 max pooling, linear (+ReLU).
// Each wraps its ops (conv.h, maxpool.h, linear.h) with the allocations a
// framework would make, in the order it would make them.
#include <cmath>
#include <cstring>

#include "kernels/conv.h"
#include "kernels/layer.h"
#include "kernels/linear.h"
#include "kernels/maxpool.h"
#include "kernels/relu.h"

namespace memstrat {

ActRef Context::new_activation(const Shape& shape, int layer, BufferKind kind) {
  auto act = std::make_shared<Activation>();
  act->shape = shape;
  act->layer = layer;
  act->values = Buffer(allocator, shape.numel() * sizeof(float), kind, layer);
  return act;
}

Grad Context::new_grad(const Shape& shape, int layer) {
  return Grad{Buffer(allocator, shape.numel() * sizeof(float), BufferKind::temporary, layer), shape};
}

Buffer Context::new_buffer(std::size_t bytes, BufferKind kind, int layer) {
  return Buffer(allocator, bytes, kind, layer);
}

float* Context::values(Activation& act) {
  if (!act.present()) store.unpack(allocator, act, !compute);
  MEMSTRAT_CHECK(act.present(), std::string("store '") + store.name() + "' did not restore an activation");
  return act.data();
}

namespace {

// Weights (rows, fan_in) drawn from N(0, gain / fan_in), biases zero. Gain 2 before a
// ReLU (He et al. 2015); 1/3 for the last layer, PyTorch's default for Linear,
// so that the first loss is near ln(classes).
void init_param(Param& p, Allocator& allocator, int fan_in, float gain, Rng& rng, bool dry_run) {
  p.value = Buffer(allocator, p.numel() * sizeof(float), BufferKind::parameter, p.layer);
  p.grad = Buffer(allocator, p.numel() * sizeof(float), BufferKind::gradient, p.layer);
  if (dry_run) return;
  float* w = p.value.as<float>();
  const float stddev = fan_in > 0 ? std::sqrt(gain / float(fan_in)) : 0.0f;
  for (std::size_t i = 0; i < p.numel(); ++i) w[i] = stddev * rng.normal();
  std::memset(p.grad.data(), 0, p.grad.bytes());
}

// The fused ReLU's backward, shared by conv and linear: the saved output is the
// mask (unpacked in a dry run too, so the estimator sees the copy), then dropped.
void mask_by_saved_relu(Context& ctx, Grad& dout, ActRef& saved_out) {
  float* y = ctx.values(*saved_out);
  if (ctx.compute) relu_backward(dout.data(), y, dout.shape.numel());
  saved_out.reset();
}

class Conv2d final : public Layer {
 public:
  Conv2d(int index, int in_c, int out_c, int kernel, int stride, int pad, bool relu)
      : Layer(index), in_c_(in_c), out_c_(out_c), kernel_(kernel), stride_(stride), pad_(pad), relu_(relu) {
    weight_ = Param{{out_c, in_c * kernel * kernel, 1, 1}, index, {}, {}};
    bias_ = Param{{out_c, 1, 1, 1}, index, {}, {}};
  }

  std::string describe() const override {
    return "conv" + std::to_string(kernel_) + "x" + std::to_string(kernel_) + " " + std::to_string(in_c_) + "->" +
           std::to_string(out_c_) + (stride_ != 1 ? " /" + std::to_string(stride_) : "") + (relu_ ? " +relu" : "");
  }

  Shape output_shape(const Shape& in) const override {
    const ConvGeometry g = geometry(in);
    return {in.n, out_c_, g.out_h(), g.out_w()};
  }

  std::vector<Param*> params() override { return {&weight_, &bias_}; }

  void init(Allocator& allocator, Rng& rng, bool dry_run) override {
    const int fan_in = in_c_ * kernel_ * kernel_;
    init_param(weight_, allocator, fan_in, relu_ ? 2.0f : 1.0f, rng, dry_run);
    init_param(bias_, allocator, 0, 0.0f, rng, dry_run);
  }

  std::size_t workspace_bytes(const Shape& in) const override {
    const ConvGeometry g = geometry(in);
    return std::max(conv_forward_workspace_elems(g), conv_backward_workspace_elems(g)) * sizeof(float);
  }

  ActRef forward(Context& ctx, const ActRef& in, bool save) override {
    const ConvGeometry g = geometry(in->shape);
    ActRef out = ctx.new_activation(output_shape(in->shape), index());
    Buffer col = ctx.new_buffer(conv_forward_workspace_elems(g) * sizeof(float), BufferKind::workspace, index());
    float* x = ctx.values(*in);  // in a dry run too: the estimator must see an unpacked copy
    if (ctx.compute)
      conv2d_forward(out->data(), x, weight_.value.as<float>(), bias_.value.as<float>(), g, col.as<float>(),
                     ctx.gemm_workspace, relu_);
    col.reset();
    if (save) {
      saved_in_ = in;
      if (relu_) saved_out_ = out;
    }
    return out;
  }

  Grad backward(Context& ctx, Grad&& dout, bool need_input_grad) override {
    MEMSTRAT_CHECK(saved_in_ != nullptr, "conv backward without a saved forward");
    const ConvGeometry g = geometry(saved_in_->shape);
    if (relu_) mask_by_saved_relu(ctx, dout, saved_out_);
    Grad din;
    if (need_input_grad) din = ctx.new_grad(saved_in_->shape, index());
    Buffer col = ctx.new_buffer(conv_backward_workspace_elems(g, need_input_grad) * sizeof(float),
                                BufferKind::workspace, index());
    float* x = ctx.values(*saved_in_);
    if (ctx.compute)
      conv2d_backward(need_input_grad ? din.data() : nullptr, weight_.grad.as<float>(), bias_.grad.as<float>(),
                      dout.data(), x, weight_.value.as<float>(), g, col.as<float>(), ctx.gemm_workspace);
    col.reset();
    saved_in_.reset();
    dout.values.reset();
    return din;
  }

 private:
  ConvGeometry geometry(const Shape& in) const { return {in.n, in_c_, in.h, in.w, out_c_, kernel_, stride_, pad_}; }

  int in_c_, out_c_, kernel_, stride_, pad_;
  bool relu_;
  Param weight_, bias_;
  ActRef saved_in_, saved_out_;
};

class MaxPool2 final : public Layer {
 public:
  explicit MaxPool2(int index) : Layer(index) {}
  std::string describe() const override { return "maxpool2x2"; }
  Shape output_shape(const Shape& in) const override { return {in.n, in.c, in.h / 2, in.w / 2}; }

  ActRef forward(Context& ctx, const ActRef& in, bool save) override {
    const MaxPoolGeometry g{in->shape.n, in->shape.c, in->shape.h, in->shape.w};
    ActRef out = ctx.new_activation(output_shape(in->shape), index());
    if (save) argmax_ = ctx.new_buffer(g.out_elems(), BufferKind::activation, index());
    float* x = ctx.values(*in);
    if (ctx.compute) maxpool2_forward(out->data(), argmax_.as<std::uint8_t>(), x, g);
    in_shape_ = in->shape;
    return out;
  }

  Grad backward(Context& ctx, Grad&& dout, bool need_input_grad) override {
    MEMSTRAT_CHECK(bool(argmax_) || !ctx.compute, "maxpool backward without a saved forward");
    Grad din;
    if (need_input_grad) {
      din = ctx.new_grad(in_shape_, index());
      if (ctx.compute)
        maxpool2_backward(din.data(), dout.data(), argmax_.as<std::uint8_t>(),
                          {in_shape_.n, in_shape_.c, in_shape_.h, in_shape_.w});
    }
    argmax_.reset();
    dout.values.reset();
    return din;
  }

 private:
  Buffer argmax_;  // which of the 4 inputs won, one byte per output
  Shape in_shape_;
};

class Linear final : public Layer {
 public:
  Linear(int index, int in_features, int out_features, bool relu)
      : Layer(index), in_(in_features), out_(out_features), relu_(relu) {
    weight_ = Param{{out_features, in_features, 1, 1}, index, {}, {}};
    bias_ = Param{{out_features, 1, 1, 1}, index, {}, {}};
  }

  std::string describe() const override {
    return "linear " + std::to_string(in_) + "->" + std::to_string(out_) + (relu_ ? " +relu" : "");
  }

  Shape output_shape(const Shape& in) const override { return {in.n, out_, 1, 1}; }
  std::vector<Param*> params() override { return {&weight_, &bias_}; }

  void init(Allocator& allocator, Rng& rng, bool dry_run) override {
    init_param(weight_, allocator, in_, relu_ ? 2.0f : 1.0f / 3.0f, rng, dry_run);
    init_param(bias_, allocator, 0, 0.0f, rng, dry_run);
  }

  ActRef forward(Context& ctx, const ActRef& in, bool save) override {
    MEMSTRAT_CHECK(int(in->shape.per_sample()) == in_,
                   "linear layer got " + in->shape.str() + ", expects " + std::to_string(in_) + " features");
    ActRef out = ctx.new_activation(output_shape(in->shape), index());
    float* x = ctx.values(*in);
    if (ctx.compute) {
      linear_forward(out->data(), x, weight_.value.as<float>(), bias_.value.as<float>(), in->shape.n, in_, out_,
                     ctx.gemm_workspace);
      if (relu_) relu_forward(out->data(), out->data(), out->shape.numel());
    }
    if (save) {
      saved_in_ = in;
      if (relu_) saved_out_ = out;
    }
    return out;
  }

  Grad backward(Context& ctx, Grad&& dout, bool need_input_grad) override {
    MEMSTRAT_CHECK(saved_in_ != nullptr, "linear backward without a saved forward");
    if (relu_) mask_by_saved_relu(ctx, dout, saved_out_);
    Grad din;
    if (need_input_grad) din = ctx.new_grad(saved_in_->shape, index());
    float* x = ctx.values(*saved_in_);
    if (ctx.compute)
      linear_backward(need_input_grad ? din.data() : nullptr, weight_.grad.as<float>(), bias_.grad.as<float>(),
                      dout.data(), x, weight_.value.as<float>(), saved_in_->shape.n, in_, out_, ctx.gemm_workspace);
    saved_in_.reset();
    dout.values.reset();
    return din;
  }

 private:
  int in_, out_;
  bool relu_;
  Param weight_, bias_;
  ActRef saved_in_, saved_out_;
};

}  // namespace

std::unique_ptr<Layer> make_conv(int index, int in_c, int out_c, int kernel, int stride, int pad, bool relu) {
  return std::make_unique<Conv2d>(index, in_c, out_c, kernel, stride, pad, relu);
}
std::unique_ptr<Layer> make_maxpool2(int index) { return std::make_unique<MaxPool2>(index); }
std::unique_ptr<Layer> make_linear(int index, int in_features, int out_features, bool relu) {
  return std::make_unique<Linear>(index, in_features, out_features, relu);
}

}  // namespace memstrat
