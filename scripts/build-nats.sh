#!/usr/bin/env bash
# Builds the fleet's distributed engine from the Go module proxy at pinned versions: nats-server (the hub
# cluster and each edge box's leaf node, JetStream on) and the nats CLI (operators' tool; the fleet tests use
# it as a client nobody here wrote). Both land in .tools/bin. Idempotent: binaries of the pinned versions are
# kept (a rerun takes well under a second); the Go module and build caches make a rebuild fast.
#
#   bash scripts/build-nats.sh           # build what is missing
#   bash scripts/build-nats.sh --check   # only report (exit 1 if missing)
#
# Why not Debian's nats-server: its 2.9.x lacks per-message TTL and leaf-remote reload and has leaf mirror
# defects the fleet relies on being fixed. Each module is downloaded (`go mod download`, checked against
# sum.golang.org) and built in its own directory with its own go.mod/go.sum, as `go install pkg@version` would
# (that command is not used: it also lists the module's versions, which this proxy may refuse).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
server_module="github.com/nats-io/nats-server/v2"
server_version="v2.15.2"
cli_module="github.com/nats-io/natscli"
cli_version="v0.5.0"
bindir="$root/.tools/bin"
check=0
[ "${1:-}" = "--check" ] && check=1

server_ok() { [ -x "$bindir/nats-server" ] && "$bindir/nats-server" --version 2>&1 | grep -qF "${server_version}"; }
cli_ok() { [ -x "$bindir/nats" ] && "$bindir/nats" --version 2>&1 | grep -qF "${cli_version#v}"; }

if server_ok && cli_ok; then
  echo "nats-server $server_version, nats CLI $cli_version: $bindir (already built)"
  exit 0
fi
if [ "$check" = 1 ]; then
  echo "nats-server $server_version / nats CLI $cli_version missing in $bindir: run \`bash scripts/build-nats.sh\`" >&2
  exit 1
fi
command -v go >/dev/null || { echo "build-nats: Go is not installed; install Go 1.24+ and rerun \`bash scripts/build-nats.sh\`" >&2; exit 1; }
mkdir -p "$bindir"
cd "$root"

# build MODULE VERSION OUTPUT PACKAGE-DIR LDFLAGS
build() {
  local src
  src="$(GOFLAGS=-mod=mod go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$src" ] || { echo "build-nats: could not download $1@$2 from the Go module proxy" >&2; return 1; }
  (cd "$src/$4" && GOFLAGS=-mod=mod go build -trimpath -o "$3" -ldflags "$5" .)
}

server_ok || build "$server_module" "$server_version" "$bindir/nats-server" "" "-s -w"
cli_ok || build "$cli_module" "$cli_version" "$bindir/nats" "nats" "-s -w -X main.version=${cli_version#v}"
server_ok || { echo "build-nats: built nats-server does not report $server_version" >&2; exit 1; }
cli_ok || { echo "build-nats: built nats CLI does not report ${cli_version#v}" >&2; exit 1; }
echo "nats-server $server_version, nats CLI $cli_version: $bindir"
