#!/usr/bin/env bash
# Builds grpcurl, the stock gRPC command-line client the tests use as an independent client of the gRPC
# front door (server reflection is off, so it reads gateway/frontdoor/proto/verigate/v1/gateway.proto), from
# the Go module proxy at a pinned version into .tools/bin/grpcurl. Idempotent: an existing binary of the
# pinned version is kept; the Go build cache makes a rebuild fast. Called by scripts/build-go-client.sh.
#
#   bash scripts/build-grpcurl.sh [--check]   # --check: only report what is missing (exit 1); builds nothing
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="v1.9.3"
bin="$root/.tools/bin/grpcurl"
check=0
case "${1:-}" in
  --check) check=1 ;;
  '') ;;
  *) echo "build-grpcurl.sh: unknown argument '$1' (use --check or nothing)" >&2; exit 2 ;;
esac
if [ -x "$bin" ] && "$bin" -version 2>&1 | grep -qF "$version"; then
  echo "grpcurl $version: $bin (already built)"
  exit 0
fi
if [ "$check" = 1 ]; then echo "build-grpcurl: grpcurl $version is missing at $bin (build: bash scripts/build-grpcurl.sh)" >&2; exit 1; fi
command -v go >/dev/null || { echo "build-grpcurl: Go is not installed (needed for the gRPC interop tests): install Go >= 1.25.3 from https://go.dev/dl/ and put it on PATH" >&2; exit 1; }
mkdir -p "$root/.tools/bin"
# `go install pkg@version` builds outside any module, from the proxy and the module's own go.sum.
cd "$root"
GOBIN="$root/.tools/bin" go install -ldflags "-X main.version=$version" "github.com/fullstorydev/grpcurl/cmd/grpcurl@$version"
echo "grpcurl $version: $bin"
