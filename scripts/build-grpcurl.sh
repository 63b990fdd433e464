#!/usr/bin/env bash
# Builds grpcurl, the stock gRPC command-line client the tests use as an independent client of the gRPC
# front door (server reflection is off, so it reads gateway/frontdoor/proto/verigate/v1/gateway.proto), from
# the Go module proxy at a pinned version into .tools/bin/grpcurl. Idempotent: an existing binary of the
# pinned version is kept; the Go build cache makes a rebuild fast. Called by scripts/build-go-client.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="v1.9.3"
bin="$root/.tools/bin/grpcurl"
command -v go >/dev/null || { echo "build-grpcurl: Go is not installed (needed for the gRPC interop tests)" >&2; exit 1; }
if [ -x "$bin" ] && "$bin" -version 2>&1 | grep -qF "$version"; then
  echo "grpcurl $version: $bin (already built)"
  exit 0
fi
mkdir -p "$root/.tools/bin"
# `go install pkg@version` builds outside any module, from the proxy and the module's own go.sum.
cd "$root"
GOBIN="$root/.tools/bin" go install -ldflags "-X main.version=$version" "github.com/fullstorydev/grpcurl/cmd/grpcurl@$version"
echo "grpcurl $version: $bin"
