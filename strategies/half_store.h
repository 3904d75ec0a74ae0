// The store shared by `fp16` and `bf16`: a saved activation is kept as 16-bit
// values while backward does not need it, and widened back to fp32 when it does.
//
// pack() takes a 16-bit buffer (kind activation, the activation's layer),
// narrows into it and frees the fp32 values; unpack() takes an fp32 buffer
// (kind temporary: a widened copy) and frees the 16-bit one. Weights, their
// gradients and all arithmetic stay fp32 (Micikevicius et al. 2018 keep an fp32
// master copy; here the only 16-bit thing is what waits for backward).
// Private to strategies/fp16.cpp and strategies/bf16.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "kernels/activation.h"
#include "kernels/tensor.h"
#include "strategies/registry.h"
#include "strategies/techniques.h"

namespace memstrat {

class HalfStore final : public ActivationStore {
 public:
  using Narrow = void (*)(std::uint16_t* out, const float* in, std::size_t n);
  using Widen = void (*)(float* out, const std::uint16_t* in, std::size_t n);

  HalfStore(const char* name, Narrow narrow, Widen widen) : name_(name), narrow_(narrow), widen_(widen) {}
  const char* name() const override { return name_; }

  void pack(Allocator& allocator, Activation& act, bool dry_run) override {
    if (act.borrowed != nullptr || !act.values) return;  // not ours to keep
    const std::size_t n = act.shape.numel();
    auto packed = std::make_unique<Packed16>();
    packed->bits = Buffer(allocator, n * sizeof(std::uint16_t), BufferKind::activation, act.layer);
    if (!dry_run) narrow_(packed->bits.as<std::uint16_t>(), act.values.as<float>(), n);
    act.values.reset();
    act.packed = std::move(packed);
  }

  void unpack(Allocator& allocator, Activation& act, bool dry_run) override {
    auto* packed = dynamic_cast<Packed16*>(act.packed.get());
    MEMSTRAT_CHECK(packed != nullptr, std::string("store '") + name_ + "' asked for an activation it did not keep");
    const std::size_t n = act.shape.numel();
    Buffer values(allocator, n * sizeof(float), BufferKind::temporary, act.layer);
    if (!dry_run) widen_(values.as<float>(), packed->bits.as<std::uint16_t>(), n);
    act.values = std::move(values);
    act.packed.reset();
  }

 private:
  struct Packed16 final : Packed {
    Buffer bits;  // (numel) 16-bit values
  };

  const char* name_;
  Narrow narrow_;
  Widen widen_;
};

// Sets `set.store` to a HalfStore, refusing a second technique that keeps activations.
// `name` must be a string literal: the store keeps the pointer.
inline void apply_half_store(const char* name, std::string_view option, TechniqueSet& set, HalfStore::Narrow narrow,
                             HalfStore::Widen widen) {
  refuse_option("technique", name, option);
  if (set.store)
    throw SpecError("techniques '" + std::string(set.store->name()) + "' and '" + std::string(name) +
                    "' cannot be combined: both decide how saved activations are kept");
  set.store = std::make_unique<HalfStore>(name, narrow, widen);
}

}  // namespace memstrat
