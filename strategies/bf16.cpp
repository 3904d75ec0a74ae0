// PLACEHOLDER until the technique is written.
#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

void apply_bf16(std::string_view, TechniqueSet&) { throw SpecError("technique 'bf16' is not implemented yet"); }

}  // namespace memstrat
