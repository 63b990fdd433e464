#!/usr/bin/env bash
# Builds ghostunnel, the SPIFFE-native TLS proxy the bench compares verigate with (a baseline row beside
# stunnel and haproxy), from the Go module proxy at a pinned version into .tools/bin/ghostunnel.
# Idempotent: an existing binary of the pinned version is kept (a rerun takes well under a second); the Go
# module and build caches make a rebuild fast. `npm run bench` calls it when the binary is missing.
#
# How: the pinned module is downloaded (`go mod download`, checked against sum.golang.org) and built in its
# own directory with its own go.mod/go.sum (as `go install pkg@version` would; that command is not used
# because it also lists the module's versions for a deprecation check, which this proxy may refuse). The
# module zip's vendor/ directory is incomplete, hence -mod=mod. One dependency pinned by v1.8.4
# (github.com/landlock-lsm/go-landlock) is missing from the checksum database, so that path alone is
# exempted (GONOSUMDB); ghostunnel's go.sum still pins its hash.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
module="github.com/ghostunnel/ghostunnel"
version="v1.8.4"
bin="$root/.tools/bin/ghostunnel"
command -v go >/dev/null || { echo "build-ghostunnel: Go is not installed (needed for the ghostunnel bench baseline)" >&2; exit 1; }
if [ -x "$bin" ] && "$bin" --version 2>&1 | grep -qF "rev ${version#v} "; then
  echo "ghostunnel $version: $bin (already built)"
  exit 0
fi
mkdir -p "$root/.tools/bin"
export GONOSUMDB="github.com/landlock-lsm${GONOSUMDB:+,$GONOSUMDB}"
cd "$root"   # outside any module the download needs no go.mod; the repo has none at its root
src="$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$src" ] || { echo "build-ghostunnel: could not download $module@$version" >&2; exit 1; }
cd "$src"
GOFLAGS=-mod=mod go build -trimpath -o "$bin" -ldflags "-X main.version=${version#v}" .
echo "ghostunnel $version: $bin ($("$bin" --version 2>&1 | head -n1))"
