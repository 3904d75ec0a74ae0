// A layer of a sequential model, and the context its ops run in.
//
// Layers allocate everything through the Context, which carries the allocator
// under test and the activation store. A layer's forward returns its output and,
// when asked to save, keeps what its backward needs; backward adds into the
// parameter gradients (zeroing is the trainer's job), returns the input gradient,
// and drops what forward saved.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/gemm.h"

namespace memstrat {

struct Param {
  Shape shape;  // (OC, C*K*K) or (OUT, IN) for weights, (OC) for biases
  int layer;
  Buffer value;  // parameter
  Buffer grad;   // gradient
  std::size_t numel() const { return shape.numel(); }
};

struct Context {
  Allocator& allocator;
  ActivationStore& store;
  const GemmWorkspace* gemm_workspace = nullptr;
  // False in a dry run: every allocation of a real step is made, no value is
  // computed. The estimator replays the trainer this way.
  bool compute = true;

  ActRef new_activation(const Shape& shape, int layer, BufferKind kind = BufferKind::activation);
  Grad new_grad(const Shape& shape, int layer);
  Buffer new_buffer(std::size_t bytes, BufferKind kind, int layer);
  // The fp32 values of an activation, unpacked from the store when needed.
  float* values(Activation& act);
};

class Layer {
 public:
  explicit Layer(int index) : index_(index) {}
  virtual ~Layer() = default;
  int index() const { return index_; }

  virtual std::string describe() const = 0;
  virtual Shape output_shape(const Shape& in) const = 0;
  virtual std::vector<Param*> params() { return {}; }
  // Takes parameter and gradient memory; fills the parameters (He init) unless dry.
  virtual void init(Allocator& /*allocator*/, Rng& /*rng*/, bool /*dry_run*/) {}

  virtual ActRef forward(Context& ctx, const ActRef& in, bool save) = 0;
  virtual Grad backward(Context& ctx, Grad&& dout, bool need_input_grad) = 0;
  // Scratch one forward call takes (im2col columns), for the estimator.
  virtual std::size_t workspace_bytes(const Shape& /*in*/) const { return 0; }

 private:
  int index_;
};

// conv KxK (stride, padding) with an optional fused ReLU.
std::unique_ptr<Layer> make_conv(int index, int in_c, int out_c, int kernel, int stride, int pad, bool relu);
std::unique_ptr<Layer> make_maxpool2(int index);
// Flattens its input (N, C, H, W) to (N, C*H*W) first.
std::unique_ptr<Layer> make_linear(int index, int in_features, int out_features, bool relu);

}  // namespace memstrat
