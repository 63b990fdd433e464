#!/usr/bin/env bash
# A real SPIRE lab (one spire-server + one spire-agent) for humans, in trust domain plant.example.
#
#   bash spire-config/lab.sh up DIR [--trust-domain TD]   # foreground; Ctrl-C stops it
#   bash spire-config/lab.sh up DIR &                     # or in the background, then:
#   bash spire-config/lab.sh down DIR                     # stop the lab running in DIR
#
# `up` renders spire-config/server.conf and agent.conf into DIR, starts the server, writes the bootstrap
# bundle, attests the agent with a join token (node alias spiffe://TD/lab-node) and prints the
# environment to use (also written to DIR/lab.env), e.g. SPIFFE_ENDPOINT_SOCKET=unix://DIR/agent/public/api.sock.
# Logs: DIR/server.log, DIR/agent.log. Keep DIR short (unix socket paths are limited to 107 bytes).
# Needs the SPIRE binaries: `bash spire-config/build-spire.sh` (into .spire/bin), and `npm ci` for tsx.
# The logic lives in gateway/cli/spire-lab.ts (startSpireLab), which the test/spire suite uses too.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -lt 2 ]]; then
  sed -n '4,6p' "$0" | sed 's/^# //' >&2
  exit 2
fi
# exec: signals (Ctrl-C, `down`'s SIGTERM) reach the node process directly.
exec "$root/node_modules/.bin/tsx" "$root/gateway/cli/spire-lab-main.ts" "$@"
