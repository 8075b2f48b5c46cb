#!/usr/bin/env bash
# The project's test command (README): vet, the cgo-free build of rpiq, and every package's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
CGO_ENABLED=0 go build -o /dev/null ./cmd/rpiq
go test -timeout 60m ./...
# The kernel tests loop over every variant this build can run (kernels/cpu/q Kernels()). On x86,
# make a variant the CPU advertises but the build dropped a failure, then test again with AVX-512
# and then AVX2 hidden from the program (GODEBUG cpu.X=off, read by golang.org/x/sys/cpu): what a
# machine without them runs, so the avx2 and pure-Go paths are exercised here too.
if [ "$(go env GOARCH)" = amd64 ] && [ -r /proc/cpuinfo ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo)
  expect=""
  has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
  if has avx2 fma f16c; then expect=avx2; fi
  if has avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni; then expect=avx2,avx512; fi
  RPIQ_EXPECT_KERNELS=$expect go test -count=1 -run TestExpectedKernels ./kernels/cpu/q
  GODEBUG=cpu.avx512f=off go test -count=1 ./kernels/... ./runtime/cpubackend ./models/quant
  GODEBUG=cpu.avx2=off,cpu.avx512f=off go test -count=1 ./kernels/... ./runtime/cpubackend ./models/quant
fi
# arm64 kernels (NEON SDOT) under user-mode QEMU (qemu-user), so CI tests them without an arm64 machine
if command -v qemu-aarch64 >/dev/null; then RPIQ_EXPECT_KERNELS=neon GOARCH=arm64 go test -exec qemu-aarch64 ./kernels/...; fi
