// Activations, and the hook through which techniques keep them cheaper.
//
// An Activation is produced by one layer's forward and shared (by reference
// count) between the layers that save it for backward, so it is held once and
// freed after its last use, as a framework would. The ActivationStore is the
// second interface the kernel offers strategies (the allocator is the first):
// once forward is done with an activation that backward still needs, the
// trainer hands it to the store's pack(); when backward reads it, unpack()
// restores the fp32 values. 16-bit storage and offloading are stores.
#pragma once

#include <memory>

#include "kernels/allocator.h"
#include "kernels/tensor.h"

namespace memstrat {

// What a store keeps of an activation while its fp32 values are absent.
struct Packed {
  virtual ~Packed() = default;
};

struct Activation {
  Shape shape;
  int layer = -1;                  // the layer that produced it; -1 for the input batch
  Buffer values;                   // fp32 values, while present
  float* borrowed = nullptr;       // values owned elsewhere (the batch buffer): never packed
  std::unique_ptr<Packed> packed;  // what the store keeps while `values` is empty

  float* data() const { return borrowed != nullptr ? borrowed : values.as<float>(); }
  bool present() const { return borrowed != nullptr || bool(values); }
};
using ActRef = std::shared_ptr<Activation>;

class ActivationStore {
 public:
  virtual ~ActivationStore() = default;
  virtual const char* name() const { return "fp32"; }
  // (optional) Forward no longer needs `act` in fp32 but backward will: keep it
  // some cheaper way and release act.values. Default: keep it as it is.
  // In a dry run (the estimator) make the same allocations but touch no values.
  virtual void pack(Allocator& /*allocator*/, Activation& /*act*/, bool /*dry_run*/) {}
  // (optional) Backward needs `act` again: make act.values hold its fp32 values.
  // Called only when act.present() is false. Default: nothing is ever packed.
  virtual void unpack(Allocator& /*allocator*/, Activation& /*act*/, bool /*dry_run*/) {}
};

// An activation gradient flowing backward; owned by whoever holds it.
struct Grad {
  Buffer values;
  Shape shape;
  float* data() const { return values.as<float>(); }
};

}  // namespace memstrat
