#!/usr/bin/env bash
# Installs the Debian packages memstrat needs to build, test and chart, and
# for CI's sanitizer, fuzzing and lint runs (clang-14 with its runtimes).
# Idempotent: when everything is present it only asks dpkg once and exits.
# Usage: scripts/setup.sh                  (what `make`, `make test`, `make bench` call)
#        scripts/setup.sh --check          (report what is missing, install nothing)
#        scripts/setup.sh --torch          (also PyTorch for workloads/torch_train.py:
#                                           what `make setup-torch` and CI call)
#        scripts/setup.sh --browser        (also headless Chromium and python3-websocket, for the
#                                           HTML report's browser test: what `make test` and CI call)
#        scripts/setup.sh --mpi            (also Open MPI, for `run --ranks N`: what `make test` and CI call;
#                                           configure again afterwards so that memstrat-rank is built)
#        scripts/setup.sh --check --torch  (options combine, in any order)
set -euo pipefail

check=0
torch=0
browser=0
mpi=0
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    --torch) torch=1 ;;
    --browser) browser=1 ;;
    --mpi) mpi=1 ;;
    *) echo "setup: unknown option: $arg (usage: scripts/setup.sh [--check] [--torch] [--browser] [--mpi])" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake pkg-config time
  libbenchmark-dev catch2 libcli11-dev nlohmann-json3-dev libfmt-dev
  libtomlplusplus-dev libopenblas-dev
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev
  python3 python3-matplotlib python3-numpy python3-plotly
  libbenchmark-tools python3-scipy
  clang-14 libclang-rt-14-dev libomp-14-dev clang-format-14 clang-tidy-14
)
# Only with --torch: Debian's PyTorch (CPU, oneDNN), for workloads/torch_train.py.
OPTIONAL=(
  python3-torch
)
# Only with --browser: Chromium headless and a DevTools client, for tests/scripts/test_browser.py.
BROWSER=(
  chromium python3-websocket
)
if [ "$torch" -eq 1 ]; then
  PACKAGES+=("${OPTIONAL[@]}")
fi
if [ "$browser" -eq 1 ]; then
  PACKAGES+=("${BROWSER[@]}")
fi
# Only with --mpi: Open MPI (mpirun, and the headers memstrat-rank is built with).
MPI=(
  openmpi-bin libopenmpi-dev
)
if [ "$mpi" -eq 1 ]; then
  PACKAGES+=("${MPI[@]}")
fi

missing=()
# dpkg-query prints one status line per package; anything not "install ok installed" is missing.
while read -r name status; do
  [ "$status" = "installed" ] || missing+=("$name")
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
# Packages dpkg has never heard of print nothing at all: find those too.
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -q '^installed$' || {
    [[ " ${missing[*]} " == *" $p "* ]] || missing+=("$p")
  }
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$check" -eq 1 ]; then
  echo "setup: missing Debian packages: ${missing[*]}"
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "setup: these Debian packages are missing: ${missing[*]}" >&2
  echo "setup: cannot install them: not root and no password-less sudo." >&2
  echo "setup: ask an administrator to run: apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
  echo "setup: apt-get install failed; refreshing the package lists and trying once more" >&2
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
