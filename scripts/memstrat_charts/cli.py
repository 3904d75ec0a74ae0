"""What the three entry points share: the results-file arguments and error handling."""
import argparse
import json
import os
import sys

from .results import ResultsError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS_DIR = os.path.join(ROOT, "results")


def parser(prog, description):
    return argparse.ArgumentParser(prog=prog, description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_results_arguments(p):
    p.add_argument("results", nargs="?", metavar="RESULTS.json",
                   help="results file (default: the newest *.json in --results-dir, fit-*.json files aside)")
    p.add_argument("--results-dir", default=RESULTS_DIR, metavar="DIR",
                   help="where to look for the newest results file (default: results/)")
    p.add_argument("--fit", metavar="FIT.json",
                   help="take the fit section from this file (default: the results file's own, else the "
                        "newest fit-<host>-*.json of the same machine beside it)")


def run(prog, main):
    """Runs main(); a ResultsError or an unwritable output is one line on stderr, exit 1."""
    try:
        return main()
    except ResultsError as e:
        print(f"{prog}: {e}", file=sys.stderr)
    except OSError as e:
        print(f"{prog}: {e.filename or ''}: {e.strerror}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
    return 1


def print_table(text, out, results, rows, table_ext):
    """Prints the table; with `out`, writes {results, rows} there as JSON and the table beside it."""
    print(text, end="")
    if out:
        with open(out, "w") as f:
            json.dump({"results": results, "rows": rows}, f, indent=1)
        with open(os.path.splitext(out)[0] + table_ext, "w") as f:
            f.write(text)
