# Sourced by scripts/plot, scripts/report, scripts/compare and the scripts' tests:
# finds a Python that can import matplotlib and numpy.
#
# Tried in order: $MEMSTRAT_PYTHON, python3 on PATH, /usr/bin/python3 (Debian's,
# where scripts/setup.sh installs python3-matplotlib). The first on PATH is often a
# pyenv or venv interpreter without matplotlib, hence the fall-through.

# Prints the Python found; otherwise says what to install, as WHO, and returns 1.
memstrat_find_python() {
  local who="$1" py tried=() candidates=()
  [ -n "${MEMSTRAT_PYTHON:-}" ] && candidates+=("$MEMSTRAT_PYTHON")
  if command -v python3 >/dev/null 2>&1; then candidates+=("$(command -v python3)"); fi
  candidates+=(/usr/bin/python3)
  for py in "${candidates[@]}"; do
    tried+=("$py")
    if "$py" -c 'import matplotlib, numpy' >/dev/null 2>&1; then
      echo "$py"
      return 0
    fi
  done
  echo "$who: no Python with matplotlib and numpy found (tried: ${tried[*]})." >&2
  echo "$who: install them with: apt-get install python3-matplotlib python3-numpy (or run scripts/setup.sh)," >&2
  echo "$who: or set MEMSTRAT_PYTHON to a Python that has them." >&2
  return 1
}

# Runs scripts/memstrat_charts/MODULE.py with the arguments given, or fails saying why.
memstrat_charts_run() {
  local module="$1" here py
  shift
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  py="$(memstrat_find_python "$module")" || return 1
  PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 exec "$py" -m "memstrat_charts.$module" "$@"
}
