#!/usr/bin/env bash
# Debian packages the tests and benchmarks use: third-party Modbus client (mbpoll), the TLS terminators plants
# use today (stunnel4, haproxy) for bench baselines, a real RFC 5425 syslog receiver (rsyslog + openssl driver),
# docker-compose to validate the compose file, tshark (Wireshark's PN-IO and DCE/RPC dissectors check the PROFINET
# codec; wireshark-common's "non-superusers capture?" debconf question takes its default "no", answered below so
# it never prompts). Idempotent: installs only what is missing.
set -euo pipefail
need=()
for pkg in mbpoll stunnel4 haproxy rsyslog rsyslog-openssl docker-compose tshark; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then echo "system packages: all present"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "system packages missing: ${need[*]} (run as root: apt-get install ${need[*]})" >&2; exit 1; fi
apt-get update -qq
echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
