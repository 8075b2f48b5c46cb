#!/usr/bin/env bash
# One-time set-up of a fresh Debian 12 machine: the Debian packages the assistant and the tests use,
# and the Go modules. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
pkgs=(
  # assistant (issue 7): camera (gocv needs OpenCV 4.6 headers), sound (oto needs ALSA headers;
  # alsa-utils gives aplay/arecord for the headless tests), speech (eSpeak NG, loaded with purego;
  # sox resamples WAVs), OCR (Tesseract + English data, loaded with purego), offline command
  # spotting (PocketSphinx + the en-us acoustic model), sample-image rendering (ImageMagick + DejaVu).
  libopencv-dev
  libasound2-dev alsa-utils
  espeak-ng libespeak-ng1 libespeak-ng-dev sox
  tesseract-ocr libtesseract5 libtesseract-dev tesseract-ocr-eng
  pocketsphinx libpocketsphinx-dev pocketsphinx-en-us
  imagemagick fonts-dejavu-core
  # quantized kernels (issue 4): user-mode QEMU runs the arm64 NEON kernels' tests
  qemu-user
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
