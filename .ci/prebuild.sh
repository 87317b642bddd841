#!/usr/bin/env bash
# Builds the Node-API prebuilt binary for one architecture of this platform into
# prebuilds/<platform>-<arch>/ (the name node-gyp-build looks for, e.g. linux-arm64/
# continuous-tls.glibc.node), then checks what was built: the OpenSSL configuration headers
# compiled in are the target's, and the binary asks for no libssl/libcrypto of its own.
# It builds in a scratch copy of the addon's sources, so build/ (the local addon) stays as it is.
# Usage: bash .ci/prebuild.sh [arch]   (default: this machine's; on Linux x64, arm64 cross-compiles
# with the aarch64-linux-gnu toolchain: Debian's g++-aarch64-linux-gnu)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
platform="$(node -p process.platform)"
host_arch="$(node -p process.arch)"
arch="${1:-$host_arch}"
fail() {
  echo "prebuild.sh: $*" >&2
  exit 1
}

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -R binding.gyp native package.json "$scratch/"
ln -s "$repo/node_modules" "$scratch/node_modules"

# Node-API headers do not depend on the architecture, and Node's openssl/ headers pick the
# target's configuration by compiler macros (__aarch64__ …): the running Node's headers serve
# every target, offline.
if [ -z "${npm_config_nodedir:-}" ]; then
  prefix="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
  if [ -f "$prefix/include/node/node_api.h" ]; then export npm_config_nodedir="$prefix"; fi
fi

tools=""
if [ "$arch" != "$host_arch" ]; then
  case "$platform-$arch" in
    linux-arm64) tools="aarch64-linux-gnu-" ;;
    *) fail "cross-compiling for $platform-$arch is not set up here" ;;
  esac
  command -v "${tools}g++" >/dev/null || fail "${tools}g++ is missing (Debian: apt-get install g++-aarch64-linux-gnu)"
  export CC="${tools}gcc" CXX="${tools}g++" LINK="${tools}g++" AR="${tools}ar"
  export PREBUILD_STRIP_BIN="${tools}strip"
fi

out="prebuilds/$platform-$arch"
rm -rf "$out"
(cd "$scratch" && npx prebuildify --napi --strip --tag-libc --arch "$arch" --out "$repo") ||
  fail "prebuildify failed for $platform-$arch"
binary="$(ls "$out"/*.node 2>/dev/null | head -1)"
[ -n "$binary" ] || fail "prebuildify left no binary in $out"

# Which opensslconf the compiler really used: node-gyp's dependency files list every header.
case "$platform-$arch" in
  linux-x64) conf=linux-x86_64 ;;
  linux-arm64) conf=linux-aarch64 ;;
  darwin-x64) conf=darwin64-x86_64-cc ;;
  darwin-arm64) conf=darwin64-arm64-cc ;;
  *) conf="" ;;
esac
deps_dir="$scratch/build/Release/.deps/Release/obj.target/continuous_tls/native"
if [ -n "$conf" ] && ! ls "$deps_dir"/*.o.d >/dev/null 2>&1; then
  [ "$platform" != linux ] || fail "node-gyp left no dependency files in $deps_dir"
  echo "prebuild.sh: no dependency files from node-gyp here; the OpenSSL configuration was not checked"
elif [ -n "$conf" ]; then
  used="$(cat "$deps_dir"/*.o.d | grep -o 'openssl/[./]*archs/[^/]*/' | sed 's|.*archs/||; s|/$||' | sort -u |
    tr '\n' ' ')"
  [ "$used" = "$conf " ] || fail "$binary was compiled with the OpenSSL configuration of '${used% }', not $conf"
  echo "prebuild.sh: compiled with the OpenSSL configuration of $conf"
fi

# The right machine code, and OpenSSL resolved from the node binary (see scripts/check-addon.js).
case "$platform-$arch" in
  linux-x64) machine="X86-64" ;;
  linux-arm64) machine="AArch64" ;;
  *) machine="" ;;
esac
if [ -n "$machine" ]; then
  "${tools}readelf" -h "$binary" | grep -q "Machine:.*$machine" || fail "$binary is not $machine machine code"
fi
case "$platform" in
  linux) deps="$("${tools}readelf" -d "$binary" | grep NEEDED || true)" ;;
  darwin) deps="$(otool -L "$binary")" ;;
  *) deps="" ;;
esac
if echo "$deps" | grep -E 'lib(ssl|crypto)\b'; then fail "$binary links a separate OpenSSL"; fi
if command -v file >/dev/null; then file "$binary"; else ls -l "$binary"; fi

# A glibc binary loads where the C and C++ runtimes are at least as new as the ones it was linked
# against: the toolchain's, not Node's own minimum.
if [ "$platform" = linux ] && [ ! -f /etc/alpine-release ]; then
  echo "prebuild.sh: needs $("${tools}objdump" -T "$binary" | grep -o 'GLIBC\(XX\)\?_[0-9.]*' | sort -u -V |
    awk -F_ '{ newest[$1] = $0 } END { print newest["GLIBC"] " and " newest["GLIBCXX"] }')"
fi
