// `fp16`: activations saved for backward are kept as IEEE half (F16C where the
// CPU has it) and widened to fp32 when backward reads them. fp16 keeps 10
// mantissa bits but only 5 exponent bits: values beyond 65504 become inf, below
// 2^-24 zero. See strategies/half_store.h and kernels/half.h.
#include "kernels/half.h"
#include "strategies/factories.h"
#include "strategies/half_store.h"

namespace memstrat {

void apply_fp16(std::string_view option, TechniqueSet& set) {
  apply_half_store("fp16", option, set, f32_to_f16, f16_to_f32);
}

}  // namespace memstrat
