#!/usr/bin/env bash
# Builds the third-party Go Modbus/TCP Security client used by the interop tests: a thin wrapper around
# github.com/simonvetter/modbus (from the Go module proxy, pinned in test/interop/go-mbaps-client/go.mod)
# into .tools/bin/go-mbaps-client, then grpcurl (build-grpcurl.sh). Idempotent: a binary newer than every file
# of its source directory is kept without calling Go at all.
#
#   bash scripts/build-go-client.sh [--check]   # --check: only report what is missing (exit 1); builds nothing
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
check=0
case "${1:-}" in
  --check) check=1 ;;
  '') ;;
  *) echo "build-go-client.sh: unknown argument '$1' (use --check or nothing)" >&2; exit 2 ;;
esac
src="$root/test/interop/go-mbaps-client"
bin="$root/.tools/bin/go-mbaps-client"
if [ -x "$bin" ] && [ -z "$(find "$src" -type f -newer "$bin" -print -quit)" ]; then
  echo "go-mbaps-client: $bin (up to date)"
elif [ "$check" = 1 ]; then
  echo "build-go-client: $bin is missing or older than its source (build: bash scripts/build-go-client.sh)" >&2
  exit 1
else
  command -v go >/dev/null || { echo "build-go-client: Go is not installed (needed for the interop tests): install Go >= 1.25.3 from https://go.dev/dl/ and put it on PATH" >&2; exit 1; }
  mkdir -p "$root/.tools/bin"
  (cd "$src" && GOFLAGS=-mod=mod go build -o "$bin" .)
  echo "go-mbaps-client: $bin"
fi

# The stock gRPC client (grpcurl) for the gRPC front-door tests, from the same Go toolchain and proxy.
bash "$root/scripts/build-grpcurl.sh" "$@"
