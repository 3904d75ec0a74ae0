// `dp` and `zero:S`: data parallelism over the ranks of `--ranks N` (MPI), plain or
// with the model state sharded as in ZeRO (Rajbhandari et al. 2020): stage 1 the
// optimizer state, stage 2 the gradients too, stage 3 the parameters too. The
// mechanism is the trainer's (kernels/collective.h says what each stage keeps and
// sends); this sets the stage. Without --ranks (one rank) every shard is the whole.
#include <string>

#include "strategies/factories.h"
#include "strategies/registry.h"

namespace memstrat {

namespace {

void set_stage(TechniqueSet& set, int stage, const std::string& given) {
  if (set.zero_stage >= 0) throw SpecError("'" + given + "' with another of dp, zero:S: choose one");
  set.zero_stage = stage;
}

}  // namespace

void apply_dp(std::string_view option, TechniqueSet& set) {
  refuse_option("technique", "dp", option);
  set_stage(set, 0, "dp");
}

void apply_zero(std::string_view option, TechniqueSet& set) {
  if (option != "1" && option != "2" && option != "3")
    throw SpecError("zero needs a stage from 1 to 3: zero:S (got 'zero:" + std::string(option) + "')");
  set_stage(set, option[0] - '0', "zero:" + std::string(option));
}

}  // namespace memstrat
