#!/usr/bin/env bash
# Builds the third-party Go Modbus/TCP Security client used by the interop tests: a thin wrapper around
# github.com/simonvetter/modbus (from the Go module proxy, pinned in test/interop/go-mbaps-client/go.mod)
# into .tools/bin/go-mbaps-client. Idempotent; the Go build cache makes reruns fast.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v go >/dev/null || { echo "build-go-client: Go is not installed (needed for the interop tests)" >&2; exit 1; }
mkdir -p "$root/.tools/bin"
cd "$root/test/interop/go-mbaps-client"
GOFLAGS=-mod=mod go build -o "$root/.tools/bin/go-mbaps-client" .
echo "go-mbaps-client: $root/.tools/bin/go-mbaps-client"

# The stock gRPC client (grpcurl) for the gRPC front-door tests, from the same Go toolchain and proxy.
bash "$root/scripts/build-grpcurl.sh"
