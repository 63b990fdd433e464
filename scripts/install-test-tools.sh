#!/usr/bin/env bash
# Installs the third-party Modbus clients the interop tests drive (never mocks, never skipped):
#   - pymodbus 3.x (>= 3.7, frames TLS with the MBAP header per MB-TCP-Security) from PyPI into ./.venv
#   - scapy 2.8.x (its scapy.layers.dcerpc DceRpc4 and scapy.contrib.pnio_rpc layers: independent PROFINET CM codec) into the same venv
#   - mbpoll from Debian
# Idempotent: re-running only checks what is already there. Run from anywhere; paths are repo-relative.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3}"
PYMODBUS_SPEC='pymodbus>=3.7,<4'
SCAPY_SPEC='scapy>=2.6,<3'

log() { printf '[install-test-tools] %s\n' "$*" >&2; }

install_pymodbus() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  if "$VENV/bin/python" - <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
v = tuple(int(p) for p in version("pymodbus").split(".")[:2])
sys.exit(0 if (3, 7) <= v < (4, 0) else 1)
PY
  then
    log "pymodbus $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("pymodbus"))') already installed"
  else
    log "installing $PYMODBUS_SPEC"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$PYMODBUS_SPEC"
  fi
}

install_scapy() {
  if "$VENV/bin/python" -c 'import scapy.contrib.pnio_rpc, scapy.layers.dcerpc' 2>/dev/null; then
    log "scapy $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("scapy"))') already installed"
  else
    log "installing $SCAPY_SPEC"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$SCAPY_SPEC"
  fi
}

install_mbpoll() {
  if command -v mbpoll >/dev/null 2>&1; then
    log "mbpoll already installed: $(command -v mbpoll)"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    log "mbpoll missing and apt-get not available: install mbpoll with your package manager"
    exit 1
  fi
  local SUDO=''
  if [ "$(id -u)" -ne 0 ]; then SUDO='sudo'; fi
  log "installing mbpoll (apt-get)"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q mbpoll
}

install_pymodbus
install_scapy
install_mbpoll
log "done"
