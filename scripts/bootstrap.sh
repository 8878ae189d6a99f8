#!/usr/bin/env bash
# Set up everything dorsi's development, tests and demo need on a fresh Debian/Ubuntu machine:
#   - system packages (mosquitto, influxdb, gcc, chromium + chromedriver, poppler-utils) when
#     missing and we are root (else: say what to install);
#   - a Python virtual environment in .venv with all four components installed editable,
#     pinned by requirements-lock.txt.
# Idempotent: a second run only checks and returns quickly.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
APT_PACKAGES=(mosquitto influxdb gcc chromium chromium-driver poppler-utils)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian may start the system services; the tests start their own on free ports.
  else
    echo "bootstrap: missing system packages: ${missing[*]}" >&2
    echo "bootstrap: install them with: sudo apt-get install ${missing[*]}" >&2
  fi
fi

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: dorsi needs Python 3.11 or newer ($("$PY" --version 2>&1) found)." >&2
  echo "bootstrap: set PYTHON=/path/to/python3.11 and run again." >&2
  exit 1
fi

stamp=.venv/.dorsi-bootstrap
inputs_hash=$(cat requirements-lock.txt requirements-dev.txt */pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
if [[ -f $stamp && $(cat "$stamp") == "$inputs_hash" ]]; then
  exit 0
fi

if [[ ! -x .venv/bin/python ]]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv || {
    echo "bootstrap: could not create a virtual environment; install python3-venv (apt-get install python3-venv)." >&2
    exit 1
  }
fi
echo "bootstrap: installing Python packages into .venv (first run takes a few minutes)"
log=.venv/pip-install.log
if ! { .venv/bin/python -m pip install --upgrade pip &&
  .venv/bin/python -m pip install -c requirements-lock.txt -r requirements-dev.txt \
    -e "./firmware_protocol[sensor]" -e "./signal[cli]" -e ./gateway -e "./server[demo]"; } >"$log" 2>&1; then
  tail -40 "$log" >&2
  echo "bootstrap: pip failed (full log: $log). Check the network access to PyPI and run again." >&2
  exit 1
fi
echo "$inputs_hash" > "$stamp"
echo "bootstrap: ready"
