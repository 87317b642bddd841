# Sourced by install-check.sh and cross-arm64.sh: the parts of a no-toolchain install that
# do not depend on which machine runs the app. Functions only; it runs nothing by itself.
# Expects `repo` (the repository root) to be set by the caller.

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# pack_package DEST PLATFORM...: packs the package (prepare compiles lib/) into DEST and
# prints the tarball's path. Each PLATFORM (linux-x64, linux-arm64 …) must have its prebuild inside.
pack_package() {
  local dest="$1" tarball platform
  shift
  (cd "$repo" && npm pack --silent --pack-destination "$dest" >/dev/null) || die "npm pack failed"
  tarball="$(ls "$dest"/continuous-tls-*.tgz)"
  tar -tzf "$tarball" > "$dest/contents"
  for platform in "$@"; do
    grep -q "^package/prebuilds/$platform/.*\.node\$" "$dest/contents" ||
      die "the tarball has no prebuild for $platform"
  done
  echo "$tarball"
}

# toolless_path DIR: makes DIR a PATH holding node, npm, npx and the shell basics, and nothing
# that compiles, so an install that tried to build the addon would fail.
toolless_path() {
  local sandbox="$1" nodedir tool path
  mkdir -p "$sandbox"
  nodedir="$(dirname "$(command -v node)")"
  for tool in node npm npx; do ln -sf "$nodedir/$tool" "$sandbox/$tool"; done
  for tool in sh bash env cat ls mkdir rm cp mv ln chmod uname dirname basename readlink sed grep tar gzip; do
    path="$(command -v "$tool" || true)"
    [ -n "$path" ] && ln -sf "$path" "$sandbox/$tool"
  done
  for tool in cc gcc g++ c++ clang make python3 python node-gyp; do
    if PATH="$sandbox" command -v "$tool" >/dev/null 2>&1; then die "the toolless PATH still has $tool"; fi
  done
}

# install_app APP TARBALL SANDBOX: a fresh app installs the tarball with install scripts
# disabled (what package managers that block them do) and no compiler on PATH.
install_app() {
  local app="$1" tarball="$2" sandbox="$3"
  mkdir -p "$app"
  printf '{ "name": "install-check-app", "version": "1.0.0", "private": true }\n' > "$app/package.json"
  (cd "$app" && PATH="$sandbox" npm install --ignore-scripts --no-audit --no-fund --prefer-offline "$tarball" \
    >/dev/null) || die "npm install of the packed tarball failed"
  [ ! -d "$app/node_modules/continuous-tls/build" ] || die "an install without scripts built something"
}

# write_handshakes APP: the handshake program (.ci/app/handshake.cjs) and its ES module twin.
write_handshakes() {
  local app="$1"
  cp "$repo/.ci/app/handshake.cjs" "$app/handshake.cjs"
  sed -e "s/^const \(.*\) = require('continuous-tls');/import \1 from 'continuous-tls';/" \
      -e "s/^const flavour = 'cjs';/const flavour = 'esm';/" "$app/handshake.cjs" > "$app/handshake.mjs"
  grep -q "^import .* from 'continuous-tls';" "$app/handshake.mjs" || die "could not derive handshake.mjs"
}

# write_quick_start APP: the README's quick start, both module flavours, exactly as written there.
write_quick_start() {
  local app="$1"
  extract() {
    awk -v marker="<!-- example: $1 -->" \
      '$0 == marker { found = 1; next } found && /^```/ { if (inside) exit; inside = 1; next } inside { print }' \
      "$repo/README.md"
  }
  extract quick-start-esm > "$app/quick-start.mjs"
  extract quick-start-cjs > "$app/quick-start.js"
  [ -s "$app/quick-start.mjs" ] && [ -s "$app/quick-start.js" ] || die "the README's quick start was not found"
}

# run_handshake PLATFORM COMMAND...: runs a handshake program (COMMAND is the node invocation,
# the program last) and checks that it succeeded with the prebuild of PLATFORM, not a fallback.
run_handshake() {
  local platform="$1" output
  shift
  output="$("$@")" || {
    echo "$output"
    die "the handshake program failed: ${*: -1}"
  }
  echo "$output"
  case "$output" in
    *"addon continuous-tls/prebuilds/$platform/"*.node) ;;
    *) die "${*: -1} did not load the prebuild for $platform" ;;
  esac
}
