#!/usr/bin/env bash
# The project's test command (README): vet, the cgo-free build of rpiq, and every package's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
CGO_ENABLED=0 go build -o /dev/null ./cmd/rpiq
go test -timeout 60m ./...
# arm64 kernels (NEON SDOT) under user-mode QEMU (qemu-user), so CI tests them without an arm64 machine
if command -v qemu-aarch64 >/dev/null; then RPIQ_EXPECT_KERNELS=neon GOARCH=arm64 go test -exec qemu-aarch64 ./kernels/...; fi
