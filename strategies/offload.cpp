// PLACEHOLDER until the technique is written.
#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

void apply_offload(std::string_view, TechniqueSet&) { throw SpecError("technique 'offload' is not implemented yet"); }

}  // namespace memstrat
