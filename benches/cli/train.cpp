// `memstrat train`: trains one configuration in this process and prints the
// loss and time of each step. The quickest way to see the kernel work.
#include <algorithm>
#include <fmt/core.h>
#include <vector>

#include "benches/cli/commands.h"
#include "benches/cli/preload.h"
#include "benches/cli/ranks.h"
#include "benches/cli/record.h"
#include "benches/cli/session.h"
#include "kernels/gemm.h"

#include <omp.h>

namespace memstrat::cli {

Command add_train(CLI::App& app) {
  auto* c = app.add_subcommand("train", "train one configuration here and print each step's loss and time");
  auto options = std::make_shared<RunOptions>();
  add_run_options(*c, *options);
  auto quiet = std::make_shared<bool>(false);
  c->add_flag("--quiet,-q", *quiet, "print the summary only");
  auto eval_samples = std::make_shared<std::uint64_t>(0);
  c->add_option("--eval", *eval_samples,
                "after training, the mean loss of the final weights over the dataset's first N samples")
      ->check(whole_number(1, std::uint64_t(1) << 30));
  auto launch = std::make_shared<RankLaunch>();
  add_rank_launch_options(*c, *launch);
  return [options, quiet, eval_samples, launch]() {
    if (options->ranks > 1 && !is_rank_process()) {
      std::vector<std::string> extra;
      if (*quiet) extra.emplace_back("--quiet");
      if (*eval_samples > 0) extra.insert(extra.end(), {"--eval", std::to_string(*eval_samples)});
      return train_ranks(*options, extra, *launch);
    }
    ensure_preloaded(options->alloc);
    auto s = open_session(*options);
    // Over ranks, rank 0 speaks for them all (the loss is every rank's, all-reduced).
    const bool speaks = s->comm == nullptr || s->comm->rank() == 0;
    if (!speaks) *quiet = true;
    const Model& m = s->model;
    const std::string version = s->allocator->version();
    if (speaks)
      fmt::print("model {} ({} layers, {} parameters), input {}x{}x{}, batch {}{}, {} threads, gemm {}, alloc {}{}\n",
                 m.name, m.layers.size(), m.param_count(), m.input.c, m.input.h, m.input.w, options->batch,
                 s->comm ? fmt::format(" over {} ranks ({} each)", s->comm->size(), s->train.batch) : "",
                 omp_get_max_threads(), gemm_kernel_name(), s->allocator->name(),
                 version.empty() ? "" : " (" + version + ")");
    s->allocator->reset_peak();
    std::vector<double> losses, times;
    for (int i = 0; i < options->steps; ++i) {
      const StepResult r = s->trainer->step();
      if (const std::string why = divergence(losses.empty() ? r.loss : losses.front(), r.loss); !why.empty()) {
        if (!speaks) return kDivergedExit;
        fmt::print("step {:>5}/{}  loss {:.6g}\n", r.step + 1, options->steps, r.loss);
        fmt::print(stderr, "memstrat: training diverged at step {}: {}; lower --lr\n", r.step + 1, why);
        return kDivergedExit;
      }
      losses.push_back(r.loss);
      times.push_back(r.ms);
      if (!*quiet) fmt::print("step {:>5}/{}  loss {:.6f}  {:8.1f} ms\n", r.step + 1, options->steps, r.loss, r.ms);
    }
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    const std::size_t predicted = estimate_for(*options).peak_live_bytes;
    if (speaks)
      fmt::print("loss {:.6f} -> {:.6f} over {} steps; median step {:.1f} ms; peak live {} (estimated {})\n",
                 losses.front(), losses.back(), options->steps, sorted[sorted.size() / 2],
                 format_bytes(double(s->allocator->stats().peak_live_bytes)), format_bytes(double(predicted)));
    if (*eval_samples > 0) {
      const double loss = s->trainer->evaluate(*eval_samples);  // on every rank: zero:3 gathers
      if (speaks) fmt::print("final weights: loss {:.6f} over samples 0..{}\n", loss, *eval_samples - 1);
    }
    return 0;
  };
}

}  // namespace memstrat::cli
