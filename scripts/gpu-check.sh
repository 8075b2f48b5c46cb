#!/usr/bin/env bash
# The device check of the CUDA backend, for a machine with an NVIDIA GPU (one run < 8 minutes):
#   1. build (go vet + test binaries of device/cuda and runtime/cudabackend, CGO_ENABLED=0),
#   2. the backend conformance suite on CUDA, every kernel against its float64 reference on fresh
#      random inputs (error bounds per dtype; the seed is printed), the captured decode step
#      against the eager one, and the compile test for sm_87/sm_90,
#   3. the device report: GEMV bandwidth vs measured copy bandwidth, GEMM TFLOP/s vs measured
#      mma.sync peak, decode tokens/s of random 4-bit Llama-3.2-1B and Llama-3-8B shapes vs the
#      bandwidth limit. The table is printed (paste it into docs/BENCHMARKS.md) and written to
#      $OUT/gpu-report.md when OUT is set.
#
#   bash scripts/gpu-check.sh            # on the GPU machine, with Go, or with a prepared folder
#   bash scripts/gpu-check.sh prepare    # here (no GPU needed): build the test binaries and pack
#                                        # NVRTC into .cache/gpucheck/ for a device without Go,
#                                        # network or NVRTC; carry that folder to the device.
#
# NVRTC on the device: $RPIQ_NVRTC_LIB if set, else a system libnvrtc (CUDA toolkit, JetPack),
# else the packed CUDA 11.8 copy from `prepare` (its PTX 7.8 / sm_90 CUBIN load on newer drivers).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${RPIQ_GPU_CHECK_DIR:-.cache/gpucheck}
pkgs=(./device/cuda ./kernels/cuda ./runtime/cudabackend)

log() { echo "gpu-check: $*" >&2; }

build_tests() {
  mkdir -p "$dir"
  go vet "${pkgs[@]}"
  CGO_ENABLED=0 go test -c -o "$dir/cuda.test" ./device/cuda
  CGO_ENABLED=0 go test -c -o "$dir/cudakernels.test" ./kernels/cuda
  CGO_ENABLED=0 go test -c -o "$dir/cudabackend.test" ./runtime/cudabackend
}

if [ "${1:-}" = prepare ]; then
  rm -rf "$dir/nvrtc" "$dir"/*.log "$dir"/gpu-report.md # unpacked copies would not fit a carry
  build_tests
  nv=$(bash scripts/fetch-nvrtc.sh)
  for f in libnvrtc.so.11.2 libnvrtc-builtins.so.11.8; do
    [ -f "$dir/$f.xz" ] && continue
    log "packing $f from $nv"
    xz -T0 -3 -c "$(readlink -f "$nv/$f")" >"$dir/$f.xz.tmp" && mv "$dir/$f.xz.tmp" "$dir/$f.xz"
  done
  du -sh "$dir" >&2
  log "prepared: carry $dir to the device and run scripts/gpu-check.sh there"
  exit 0
fi

start=$(date +%s)
if command -v nvidia-smi >/dev/null; then nvidia-smi -L || true; fi

if command -v go >/dev/null && (build_tests); then
  log "built the test binaries"
elif [ -x "$dir/cudabackend.test" ]; then
  log "no Go toolchain (or no modules offline): using the prepared test binaries in $dir"
else
  log "no Go toolchain and no prepared binaries in $dir (run 'scripts/gpu-check.sh prepare' first)"
  exit 1
fi

if [ -z "${RPIQ_NVRTC_LIB:-}" ]; then
  sys=$(ldconfig -p 2>/dev/null | awk '/libnvrtc\.so/ && !/builtins/ {print $NF; exit}')
  for c in "$sys" /usr/local/cuda/lib64/libnvrtc.so /usr/local/cuda/targets/aarch64-linux/lib/libnvrtc.so; do
    if [ -n "$c" ] && [ -e "$c" ]; then export RPIQ_NVRTC_LIB=$c; break; fi
  done
fi
if [ -z "${RPIQ_NVRTC_LIB:-}" ] && [ -f "$dir/libnvrtc.so.11.2.xz" ]; then
  mkdir -p "$dir/nvrtc"
  for f in libnvrtc.so.11.2 libnvrtc-builtins.so.11.8; do
    [ -f "$dir/nvrtc/$f" ] || xz -d -c "$dir/$f.xz" >"$dir/nvrtc/$f"
  done
  export RPIQ_NVRTC_LIB=$PWD/$dir/nvrtc/libnvrtc.so.11.2
fi
if [ -z "${RPIQ_NVRTC_LIB:-}" ] && command -v apt-get >/dev/null; then
  RPIQ_NVRTC_LIB=$(bash scripts/fetch-nvrtc.sh)/libnvrtc.so.11.2 && export RPIQ_NVRTC_LIB || true
fi
log "NVRTC: ${RPIQ_NVRTC_LIB:-none found}"

export RPIQ_REQUIRE_GPU=1 RPIQ_REQUIRE_NVRTC=1
RPIQ_KERNEL_CACHE=$(mktemp -d)
export RPIQ_KERNEL_CACHE
trap 'rm -rf "$RPIQ_KERNEL_CACHE"' EXIT
report=${OUT:-$dir}/gpu-report.md
mkdir -p "$(dirname "$report")"
status=0

log "bindings and kernel-source tests"
timeout 120 "$dir/cuda.test" -test.count=1 || status=1
timeout 60 "$dir/cudakernels.test" -test.count=1 || status=1

log "conformance suite, kernels against the references, graph replay, compile for sm_87/sm_90"
set +e
timeout 300 "$dir/cudabackend.test" -test.count=1 -test.v \
  -test.run 'TestConformance|OnGPU|TestStepGraphMatchesEager|TestEveryKernelCompiles|TestTargetFor' >"$dir/gpu-tests.log" 2>&1
rc=$?
set -e
grep -E '^(=== RUN|\s*--- |\s+\S+_test.go|PASS|FAIL|ok)' "$dir/gpu-tests.log" || true
if [ $rc -ne 0 ]; then
  status=1
  log "FAILED: GPU tests (exit $rc); full log in $dir/gpu-tests.log"
fi
[ -n "${OUT:-}" ] && cp "$dir/gpu-tests.log" "$OUT/" || true

log "device report"
RPIQ_GPU_REPORT=1 RPIQ_GPU_REPORT_FILE=$report timeout 240 "$dir/cudabackend.test" -test.count=1 -test.v \
  -test.run TestDeviceReport || status=1
[ -f "$report" ] && cat "$report"
log "done in $(($(date +%s) - start)) s, status $status"
exit $status
