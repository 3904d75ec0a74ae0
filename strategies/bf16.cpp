// `bf16`: activations saved for backward are kept as bfloat16 (AVX512-BF16
// where the CPU has it) and widened to fp32 when backward reads them. bf16
// keeps fp32's 8 exponent bits and 7 mantissa bits: no overflow, less precision
// than fp16. See strategies/half_store.h and kernels/half.h.
#include "kernels/half.h"
#include "strategies/factories.h"
#include "strategies/half_store.h"

namespace memstrat {

void apply_bf16(std::string_view option, TechniqueSet& set) {
  apply_half_store("bf16", option, set, f32_to_bf16, bf16_to_f32);
}

}  // namespace memstrat
