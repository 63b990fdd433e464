#!/usr/bin/env bash
# Builds the real SPIRE binaries (spire-server, spire-agent) that the lab and test/spire/** use.
#
#   bash spire-config/build-spire.sh            # build into .spire/bin (skip if already there)
#   bash spire-config/build-spire.sh --force    # rebuild even if the binaries exist
#   bash spire-config/build-spire.sh --check    # only report whether they exist (exit 1 if not); builds nothing
#
# Source: the Go tools module spire-config/tools (go.mod `tool` directives pin github.com/spiffe/spire,
# go.sum pins every dependency), fetched through the Go module proxy ($GOPROXY). Output: <repo>/.spire/bin
# (git-ignored, project-local; SPIRE_BIN_DIR overrides). Idempotent: when both binaries exist it only reports their versions.
# Reruns after a `--force` are fast thanks to Go's module and build caches.
# Needs: Go >= 1.25.3 and a C compiler — spire-server links the sqlite datastore through cgo
# [docs/architecture.md "SPIRE facts": spire-server needs CGO].
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
tools="$here/tools"
bin="${SPIRE_BIN_DIR:-$root/.spire/bin}"   # override for a throwaway build
force=0
check=0
case "${1:-}" in
  --force) force=1 ;;
  --check) check=1 ;;
  '') ;;
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
  *) echo "build-spire.sh: unknown argument '$1' (use --force, --check or nothing)" >&2; exit 2 ;;
esac

report() {
  for b in spire-server spire-agent; do
    # SPIRE prints --version on stderr.
    printf '%s %s\n' "$b" "$("$bin/$b" --version 2>&1 | head -n1)"
  done
  echo "SPIRE binaries in $bin"
}

if [[ $force -eq 0 && -x "$bin/spire-server" && -x "$bin/spire-agent" ]]; then
  echo "build-spire.sh: already built (use --force to rebuild)"
  report
  exit 0
fi
if [[ $check -eq 1 ]]; then
  echo "build-spire.sh: spire-server/spire-agent missing in $bin (build: bash spire-config/build-spire.sh)" >&2
  exit 1
fi

if ! command -v go >/dev/null 2>&1; then
  echo "build-spire.sh: 'go' not found on PATH. Install Go >= 1.25.3 (https://go.dev/dl/) and rerun." >&2
  exit 1
fi
cc="${CC:-gcc}"
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "build-spire.sh: C compiler '$cc' not found. spire-server needs cgo for its sqlite datastore:" \
       "install gcc (e.g. 'apt-get install gcc') or set CC, then rerun." >&2
  exit 1
fi

goversion="$(go env GOVERSION)"   # e.g. go1.26.1
want="1.25.3"
have="${goversion#go}"
if [[ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" != "$want" ]]; then
  echo "build-spire.sh: Go $have is too old; SPIRE v1.13 needs Go >= $want." >&2
  exit 1
fi

mkdir -p "$bin"
echo "build-spire.sh: building SPIRE ($(grep -m1 'github.com/spiffe/spire v' "$tools/go.mod" | awk '{print $2}')) with $goversion into $bin ..."
cd "$tools"
# The tools module's `tool` directives make these package paths resolvable from this module; go.sum is
# committed, so the proxy only serves what it pins.
CGO_ENABLED=1 CC="$cc" go build -o "$bin/" \
  github.com/spiffe/spire/cmd/spire-server \
  github.com/spiffe/spire/cmd/spire-agent
report
