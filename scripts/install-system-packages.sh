#!/usr/bin/env bash
# Debian packages the tests and benchmarks use: third-party Modbus client (mbpoll), the TLS terminators plants
# use today (stunnel4, haproxy) for bench baselines, a real RFC 5425 syslog receiver (rsyslog + openssl driver),
# docker-compose to validate the compose file, tshark (Wireshark's PN-IO and DCE/RPC dissectors check the PROFINET
# codec; wireshark-common's "non-superusers capture?" debconf question takes its default "no", answered below so
# it never prompts), python3-venv (the pymodbus/Scapy venv of install-test-tools.sh), gcc (spire-server links
# sqlite through cgo) and socat (PTY pairs standing in for RS-485 lines in the serial RTU tests and the lab). Idempotent: installs only what is missing; when all are present it only asks dpkg.
#
#   bash scripts/install-system-packages.sh           # install what is missing (needs root when something is)
#   bash scripts/install-system-packages.sh --check   # only report what is missing (exit 1 if anything is)
set -euo pipefail
packages=(mbpoll stunnel4 haproxy rsyslog rsyslog-openssl docker-compose tshark python3-venv gcc socat)
check=0
case "${1:-}" in
  --check) check=1 ;;
  '') ;;
  *) echo "install-system-packages.sh: unknown argument '$1' (use --check or nothing)" >&2; exit 2 ;;
esac
if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "system packages: not a Debian system (no dpkg-query); install the equivalents of: ${packages[*]}" >&2
  exit 1
fi
need=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then echo "system packages: all present"; exit 0; fi
if [ "$check" = 1 ]; then echo "system packages missing: ${need[*]} (install: sudo apt-get install -y ${need[*]})" >&2; exit 1; fi
if [ "$(id -u)" != 0 ]; then
  echo "system packages missing: ${need[*]}. apt-get needs root; run" >&2
  echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ${need[*]}" >&2
  echo "(or: sudo bash scripts/install-system-packages.sh), then rerun." >&2
  exit 1
fi
apt-get update -qq
echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
