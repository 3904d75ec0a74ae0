"""scripts/plot: draws every chart of one results file, as PNG and SVG."""
import os
import sys

from . import charts, cli
from .charts import Skip
from .results import load_default_or

DESCRIPTION = """Draws the charts of a memstrat results file, each as NAME.png and NAME.svg:
  peak_memory       peak RSS by strategy: baseline, live tensor bytes, strategy overhead
  step_time         step time by strategy: median, p10-p90 whiskers
  time_vs_memory    step time against peak RSS, with the Pareto front: what to pick
  memory_over_time  RSS timelines of the allocators, step ends marked
  fragmentation     fragmentation and bytes retained after training, by allocator
  fit               largest batch per strategy within the budget (when there is a fit section)
A chart the results cannot fill is skipped, saying why, and its old files are removed."""


def main(argv=None):
    p = cli.parser("plot", DESCRIPTION)
    cli.add_results_arguments(p)
    p.add_argument("--out", default=os.path.join(cli.RESULTS_DIR, "charts"), metavar="DIR",
                   help="folder for the charts (default: results/charts)")
    args = p.parse_args(argv)

    def run():
        results = load_default_or(args.results, args.results_dir, args.fit)
        print(f"plot: {results.path}" + (f" (fit from {results.fit_source})"
                                         if results.fit_source not in (None, results.path) else ""))
        for name in charts.NAMES:
            module = __import__(f"{__package__}.charts.{name}", fromlist=["draw"])
            try:
                paths = module.draw(results, args.out)
                print(f"  {name}: " + ", ".join(paths))
            except Skip as reason:
                # A stale chart from older results would be linked by the report as if it were current.
                for ext in ("png", "svg"):
                    stale = os.path.join(args.out, f"{name}.{ext}")
                    if os.path.exists(stale):
                        os.remove(stale)
                print(f"  {name}: skipped, {reason}")
        return 0

    return cli.run("plot", run)


if __name__ == "__main__":
    sys.exit(main())
