#!/usr/bin/env bash
# Fetch NVRTC (CUDA 11.8's runtime compiler) without a GPU and without touching the system's apt
# sources: a scratch apt configuration adds Debian's non-free section for this one download, the
# two .deb files are unpacked with dpkg-deb -x (nothing is installed), and the folder holding
# libnvrtc.so.* is printed on stdout. Runs once: later calls find the cache and print it at once.
#
#   dir=$(bash scripts/fetch-nvrtc.sh) && export RPIQ_NVRTC_LIB="$dir/libnvrtc.so.11.2"
#
# The cache is $RPIQ_NVRTC_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/rpiq/nvrtc. The mirror is the
# one this machine's own apt configuration names; none is written here. Progress goes to stderr.
set -euo pipefail

pkgs=(libnvrtc11.2 libnvrtc-builtins11.8)
lib=libnvrtc.so.11.2
cache=${RPIQ_NVRTC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rpiq/nvrtc}

find_lib() { find "$cache/root" -name "$lib" -print -quit 2>/dev/null; }

if found=$(find_lib) && [ -n "$found" ]; then
  dirname "$found"
  exit 0
fi

log() { echo "fetch-nvrtc: $*" >&2; }

# The machine's mirror: deb822 sources first, then the one-line format.
uri=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  uri=$(awk '/^URIs:/{print $2; exit}' "$f")
  case "$uri" in *security*) uri="" ;; esac
  [ -n "$uri" ] && break
done
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
  uri=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
if [ -z "$uri" ]; then
  log "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
  exit 1
fi
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/lists/partial" "$scratch/cache/archives/partial" "$scratch/debs"
echo "deb [signed-by=$keyring] $uri $suite main contrib non-free non-free-firmware" >"$scratch/sources.list"
opts=(-o "Dir::Etc::SourceList=$scratch/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
  -o "Dir::State::Lists=$scratch/lists" -o "Dir::Cache=$scratch/cache" -o "APT::Sandbox::User=root")
# apt's download sandbox user may not be able to write the scratch folder; run it as ourselves.
[ "$(id -u)" = 0 ] || opts=("${opts[@]:0:8}")

log "updating a scratch package list ($suite, non-free) from the machine's mirror"
apt-get "${opts[@]}" -qq update >&2
log "downloading ${pkgs[*]}"
(cd "$scratch/debs" && apt-get "${opts[@]}" -qq download "${pkgs[@]}" >&2)

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.root.XXXXXX")
for d in "$scratch"/debs/*.deb; do dpkg-deb -x "$d" "$tmp"; done
rm -rf "$cache/root"
mv "$tmp" "$cache/root" # rename: a half-unpacked cache is never seen as complete

found=$(find_lib)
if [ -z "$found" ]; then
  log "$lib not found in the unpacked packages under $cache/root"
  exit 1
fi
log "NVRTC is in $(dirname "$found")"
dirname "$found"
