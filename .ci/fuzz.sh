#!/usr/bin/env bash
# CI: the native code under sanitizers.
# 1. libFuzzer harnesses (test/fuzz/, scripts/fuzz.js): build with ASan+UBSan,
#    replay every committed crash input, fuzz each harness briefly.
# 2. The addon itself built with -fsanitize=address,undefined into a copy of
#    the native sources (build-asan/), then the native-heavy test files run
#    once against it: lib/tls/native.ts loads it through CONTINUOUS_TLS_ADDON.
# Budget: about 7 minutes on 2 cores (FUZZ_SECONDS per harness, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=true

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: clang with the sanitizer and libFuzzer runtimes"
if ! command -v clang++ >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang
fi
clang_major="$(clang++ -dumpversion | cut -d. -f1)"
resource_dir="$(clang++ -print-resource-dir)"
if ! ls "$resource_dir"/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 &&
   ! ls "$resource_dir"/lib/*/libclang_rt.fuzzer*.a >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "libclang-rt-${clang_major}-dev"
fi
clang++ --version | head -1

npm_config_nodedir="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
export npm_config_nodedir
[ -d dist ] || npm run build

step "fuzz harnesses: regression inputs, then ${FUZZ_SECONDS:-20} s each"
node scripts/fuzz.js --seconds "${FUZZ_SECONDS:-20}"

step "addon under AddressSanitizer + UndefinedBehaviorSanitizer"
asan_dir=build-asan
rm -rf "$asan_dir"
mkdir -p "$asan_dir"
cp -r native binding.gyp package.json "$asan_dir"/
ln -s "$PWD/node_modules" "$asan_dir/node_modules"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
(
  cd "$asan_dir"
  CC=clang CXX=clang++ CFLAGS="$sanitize" CXXFLAGS="$sanitize" \
    LDFLAGS="-fsanitize=address,undefined -shared-libasan" \
    node "$(node -p "require.resolve('node-gyp/bin/node-gyp.js')")" rebuild >/dev/null
)
addon="$PWD/$asan_dir/build/Release/continuous_tls.node"
runtime="$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)"
[ -f "$runtime" ] || { echo "ASan runtime not found: $runtime"; exit 1; }

# Certificates for the tests, made without the sanitizer in the way.
node -e "require('child_process').execFileSync('bash', ['test/fixtures/make-certs.sh'], { stdio: 'inherit' })" >/dev/null

step "native-heavy tests against the sanitized addon"
# Node's own allocations outlive the process on purpose: leak detection is off;
# every other ASan and UBSan report aborts the test process.
CONTINUOUS_TLS_ADDON="$addon" LD_PRELOAD="$runtime" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:verify_asan_link_order=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  npx tap --jobs=1 --timeout=300 --disable-coverage \
    test/connection-handshake.test.ts test/reauth-native.test.ts test/verified-chains.test.ts \
    test/bad-input.test.ts test/data-path-buffers.test.ts test/trust-change.test.ts test/denial-alert.test.ts \
    test/client-renegotiation.test.ts test/limits-crl-size.test.ts test/verdict-trust.test.ts \
    test/native-transport.test.ts test/native-handle-read-start.test.ts test/native-transport-fd-limit.test.ts \
    test/attack3-native-fd-inherit.test.ts test/attack3-native-padded-records.test.ts \
    test/attack3-native-raw-reader.test.ts test/attack3-native-stale-room.test.ts \
    test/attack3-native-thread-buffer.test.ts test/native-small-reads.test.ts \
    test/attack8-native-dataview-desync.test.ts test/attack8-native-destroy-drain-callbacks.test.ts \
    test/trust-change-batch.test.ts test/attack16-native-batch-getter-abort.test.ts \
    test/attack16-native-batch-worker-terminate.test.ts test/attack16b-native-batch-sparse-reserve.test.ts \
    test/attack16b-native-batch-dataview-segfault.test.ts test/batch-controls.test.ts \
    test/native-results-defined.test.ts test/native-write-unreadable-element.test.ts \
    test/attack19-native-cycle-after-close-abort.test.ts test/attack19-native-empty-value-tobool-abort.test.ts \
    test/attack19-native-error-code-setter-abort.test.ts test/attack19-native-transport-read-room-abort.test.ts \
    test/attack19b-lib-getinfo-session-reused-setter.test.ts test/attack19b-native-cycle-result-index-setter.test.ts
