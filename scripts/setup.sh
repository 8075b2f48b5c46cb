#!/usr/bin/env bash
# One-time set-up of a fresh Debian 12 machine: the Debian packages the assistant and the tests use,
# and the Go modules. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
pkgs=(
  # assistant (issue 7): camera (gocv compiles against OpenCV 4.6's headers), sound (oto compiles
  # against ALSA's headers; aplay/arecord help debugging), speech (eSpeak NG), OCR (Tesseract +
  # English data), offline command spotting (PocketSphinx + the en-us acoustic model). eSpeak NG,
  # Tesseract and PocketSphinx are loaded at run time with purego, so only their runtime
  # libraries are needed, not their -dev packages.
  libopencv-dev
  libasound2-dev alsa-utils
  espeak-ng libespeak-ng1
  tesseract-ocr libtesseract5 tesseract-ocr-eng
  pocketsphinx libpocketsphinx3 libsphinxbase3 pocketsphinx-en-us
  # quantized kernels (issue 4): user-mode QEMU runs the arm64 NEON kernels' tests
  qemu-user
  # CUDA (issue 5): g++ builds the CPU emulator that runs the CUDA kernels' tests without a GPU
  g++
)
if [ ${#pkgs[@]} -gt 0 ]; then
  missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
go mod download
