#!/usr/bin/env bash
# Installs the third-party Modbus clients the interop tests drive (never mocks, never skipped):
#   - pymodbus 3.x (>= 3.7, frames TLS with the MBAP header per MB-TCP-Security) from PyPI into ./.venv
#   - pyserial 3.5 (pymodbus's serial RTU client and server on socat PTYs) into the same venv
#   - scapy 2.8.x (its scapy.layers.dcerpc DceRpc4 and scapy.contrib.pnio_rpc layers: independent PROFINET CM codec) into the same venv
#   - mbpoll from Debian (with the other Debian packages, by install-system-packages.sh)
# Idempotent: re-running only checks what is already there. Run from anywhere; paths are repo-relative.
#
#   bash scripts/install-test-tools.sh [--check] [--python-only]
#     --check        only report what is missing (exit 1 if anything is); installs nothing
#     --python-only  skip mbpoll (scripts/test-setup.sh installs the Debian packages in its own step)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"
PYMODBUS_SPEC='pymodbus>=3.7,<4'
SCAPY_SPEC='scapy>=2.6,<3'
PYSERIAL_SPEC='pyserial>=3.5,<4'

CHECK=0
PYTHON_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    --python-only) PYTHON_ONLY=1 ;;
    *) echo "install-test-tools.sh: unknown argument '$arg' (use --check and/or --python-only)" >&2; exit 2 ;;
  esac
done

log() { printf '[install-test-tools] %s\n' "$*" >&2; }

# --check: say what would be installed and fail instead of installing it.
missing() {
  if [ "$CHECK" = 1 ]; then log "missing: $*"; exit 1; fi
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ]; then return; fi
  missing "the Python venv $VENV (pymodbus, scapy)"
  if ! command -v "$PYTHON_BIN" >/dev/null 2>&1; then
    log "$PYTHON_BIN not found: install Python 3 (Debian: apt-get install python3 python3-venv) or set PYTHON"
    exit 1
  fi
  log "creating $VENV"
  "$PYTHON_BIN" -m venv "$VENV" || { log "cannot create $VENV with $PYTHON_BIN -m venv (Debian: apt-get install python3-venv)"; rm -rf "$VENV"; exit 1; }
}

# One interpreter start answers for every package: "<name> ok <version>" or "<name> missing <why>". Modules are
# located (find_spec), not imported: importing Scapy's layers alone takes about a second.
probe() {
  "$VENV/bin/python" - <<'PY'
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec

def check(name, lo, hi, modules):
    try:
        v = version(name)
    except PackageNotFoundError:
        return f"{name} missing not installed"
    parts = tuple(int(p) for p in v.split(".")[:2] if p.isdigit())
    if not lo <= parts < hi:
        return f"{name} missing version {v}"
    for m in modules:
        try:
            if find_spec(m) is None:
                return f"{name} missing module {m}"
        except ImportError as e:
            return f"{name} missing module {m} ({e})"
    return f"{name} ok {v}"

print(check("pymodbus", (3, 7), (4, 0), ["pymodbus.client"]))
print(check("scapy", (2, 6), (3, 0), ["scapy.layers.dcerpc", "scapy.contrib.pnio_rpc"]))
print(check("pyserial", (3, 5), (4, 0), ["serial"]))
PY
}

install_python_tools() {
  ensure_venv
  local name state detail spec answers=0
  while read -r name state detail; do
    answers=$((answers + 1))
    if [ "$state" = ok ]; then
      log "$name $detail already installed"
      continue
    fi
    case "$name" in
      pymodbus) spec="$PYMODBUS_SPEC" ;;
      pyserial) spec="$PYSERIAL_SPEC" ;;
      *) spec="$SCAPY_SPEC" ;;
    esac
    missing "$spec in $VENV ($detail)"
    log "installing $spec ($name: $detail)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" || { log "pip could not install $spec (is PyPI reachable? PIP_INDEX_URL for a mirror)"; exit 1; }
  done < <(probe)
  if [ "$answers" -ne 3 ]; then
    log "$VENV/bin/python does not run (a broken venv?): delete $VENV and rerun"
    exit 1
  fi
}

install_mbpoll() {
  if command -v mbpoll >/dev/null 2>&1; then
    log "mbpoll already installed: $(command -v mbpoll)"
    return
  fi
  missing "mbpoll (Debian package)"
  # One place installs Debian packages (and says what to run when not root).
  bash "$ROOT/scripts/install-system-packages.sh"
}

install_python_tools
if [ "$PYTHON_ONLY" = 0 ]; then install_mbpoll; fi
log "done"
