#!/usr/bin/env bash
# Installs the packed package the way a user without a toolchain would: a prebuilt
# binary for this platform inside the tarball, install scripts disabled, and no
# compiler, make or python on PATH. The app must load that prebuild and complete a
# mutual-TLS handshake and a post-handshake re-authentication, from CommonJS and from
# an ES module, and run the README's quick start as written.
# Usage: bash .ci/install-check.sh [node binary ...]  (default: the node on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
# shellcheck source=.ci/install-app.sh
. .ci/install-app.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The prebuild (prebuildify --napi: one binary for every Node line of this platform),
# built beside build/, which stays the local addon for the rest of CI.
platform="$(node -p "process.platform + '-' + process.arch")"
bash .ci/prebuild.sh
ls prebuilds/*/

tarball="$(pack_package "$work" "$platform")"
toolless_path "$work/bin"
app="$work/app"
install_app "$app" "$tarball" "$work/bin"
write_handshakes "$app"
write_quick_start "$app"

nodes=("$@")
[ "${#nodes[@]}" -gt 0 ] || nodes=("$(command -v node)")
cd "$app"
for node in "${nodes[@]}"; do
  echo "node $("$node" --version):"
  run_handshake "$platform" env PATH="$work/bin" "$node" handshake.cjs
  run_handshake "$platform" env PATH="$work/bin" "$node" handshake.mjs
  PATH="$work/bin" "$node" quick-start.mjs
  PATH="$work/bin" "$node" quick-start.js
done
echo "install-check: ok"
