#!/usr/bin/env bash
# Runs tests/scripts/test_scripts.py (optionally one TestCase class) with a Python that
# has matplotlib, found as scripts/plot finds it. Where there is none, the test says
# so and FAILS: the charts are part of the suite, a silent skip would hide them.
# Usage: tests/scripts/run_tests.sh [TestClass ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$root/scripts/find_python.sh"
py="$(memstrat_find_python "scripts tests")" || exit 1
PYTHONDONTWRITEBYTECODE=1 exec "$py" "$root/tests/scripts/test_scripts.py" "$@"
