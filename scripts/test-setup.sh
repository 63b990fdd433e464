#!/usr/bin/env bash
# Everything `npm test` needs besides node_modules, installed or built when missing. It is the first step of
# `npm test` (package.json "test" runs `npm run test:setup`), so a fresh clone needs only
# `npm install && npm test`. Each step is one of the project's own install scripts; each is idempotent and has
# a fast "already present" path, so on a machine that has everything this takes about a second.
#
#   bash scripts/test-setup.sh           # install or build what is missing
#   bash scripts/test-setup.sh --check   # only report what is missing (exit 1 if anything is); installs nothing
#
# A step that cannot install (apt-get without root, no Go toolchain, PyPI unreachable, ...) prints what is
# missing and the command that fixes it; the other steps still run, and the script exits 1 naming every failed
# step. Steps:
#   1. node modules        node_modules from `npm install` / `npm ci` (checked, not installed: npm does that)
#   2. system packages     Debian: mbpoll, stunnel4, haproxy, rsyslog(+openssl), docker-compose, tshark,
#                          python3-venv, gcc                  scripts/install-system-packages.sh (root)
#   3. Python tools        pymodbus + scapy in ./.venv (PyPI)   scripts/install-test-tools.sh
#   4. Go clients          go-mbaps-client + grpcurl in .tools/bin (Go module proxy)  scripts/build-go-client.sh
#   5. SPIRE               spire-server + spire-agent in .spire/bin (Go module proxy) spire-config/build-spire.sh
#   6. NATS                nats-server + nats CLI in .tools/bin (Go module proxy)     scripts/build-nats.sh
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
check=()
case "${1:-}" in
  --check) check=(--check) ;;
  '') ;;
  -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
  *) echo "test-setup.sh: unknown argument '$1' (use --check or nothing)" >&2; exit 2 ;;
esac

say() { printf '[test-setup] %s\n' "$*"; }
failed=()
started=$(date +%s%N)

# step NAME COMMAND...: runs one step; a failure is remembered and the next step still runs.
step() {
  local name="$1"
  shift
  say "$name"
  if ! "$@"; then
    say "$name: FAILED (see above)"
    failed+=("$name")
  fi
}

node_modules_present() {
  local tool
  for tool in tsc tap tsx madge; do
    if [ ! -x "$root/node_modules/.bin/$tool" ]; then
      echo "node modules missing ($tool): run \`npm install\` (or \`npm ci\`) in $root first" >&2
      return 1
    fi
  done
  echo "node modules: present"
}

step "node modules" node_modules_present
step "system packages" bash "$root/scripts/install-system-packages.sh" "${check[@]}"
step "Python tools" bash "$root/scripts/install-test-tools.sh" --python-only "${check[@]}"
step "Go clients" bash "$root/scripts/build-go-client.sh" "${check[@]}"
step "SPIRE" bash "$root/spire-config/build-spire.sh" "${check[@]}"
step "NATS" bash "$root/scripts/build-nats.sh" "${check[@]}"

ms=$(( ($(date +%s%N) - started) / 1000000 ))
if [ ${#failed[@]} -gt 0 ]; then
  list=$(printf '%s, ' "${failed[@]}")
  say "NOT READY after ${ms} ms: ${list%, }. Fix what the messages above say, then rerun \`npm test\` (or \`bash scripts/test-setup.sh\` alone)." >&2
  exit 1
fi
say "ready in ${ms} ms"
