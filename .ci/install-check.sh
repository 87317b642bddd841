#!/usr/bin/env bash
# Installs the packed package the way a user without a toolchain would: a prebuilt
# binary for this platform inside the tarball, install scripts disabled, and no
# compiler, make or python on PATH. The app must load the addon and complete a
# mutual-TLS handshake, from CommonJS and from an ES module, and run the README's
# quick start as written.
# Usage: bash .ci/install-check.sh [node binary ...]  (default: the node on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The prebuild (prebuildify --napi: one binary for every Node line of this platform).
npm run build:prebuild
ls prebuilds/*/
# prebuildify builds in build/ and strips it; put the local build back for the rest of CI.
npm run build:native >/dev/null

npm pack --silent --pack-destination "$work" >/dev/null
tarball="$(ls "$work"/continuous-tls-*.tgz)"
tar -tzf "$tarball" > "$work/contents"
grep -q '^package/prebuilds/linux-x64/' "$work/contents" || { echo "the tarball has no prebuild"; exit 1; }

# A PATH with node and npm and the shell basics, and nothing that compiles.
sandbox="$work/bin"
mkdir -p "$sandbox"
nodedir="$(dirname "$(command -v node)")"
for tool in node npm npx; do ln -s "$nodedir/$tool" "$sandbox/$tool"; done
for tool in sh bash env cat ls mkdir rm cp mv ln chmod uname dirname basename readlink sed grep tar gzip; do
  path="$(command -v "$tool" || true)"
  [ -n "$path" ] && ln -s "$path" "$sandbox/$tool"
done
for tool in cc gcc g++ c++ clang make python3 python node-gyp; do
  if PATH="$sandbox" command -v "$tool" >/dev/null 2>&1; then echo "sandbox PATH still has $tool"; exit 1; fi
done

app="$work/app"
mkdir -p "$app"
cd "$app"
printf '{ "name": "install-check-app", "version": "1.0.0", "private": true }\n' > package.json
PATH="$sandbox" npm install --ignore-scripts --no-audit --no-fund --prefer-offline "$tarball" >/dev/null
[ ! -d node_modules/continuous-tls/build ] || { echo "an install without scripts built something?"; exit 1; }

cat > handshake.cjs <<'JS'
const { createServer, connect, DevelopmentCA } = require('continuous-tls');

async function main() {
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const alice = await ca.issueClient({ commonName: 'alice' });
  const tlsServer = createServer({ key: server.key, cert: server.chain, ca: ca.rootCert, requestCert: true }, (socket) => {
    socket.end(`hello ${socket.getPeerCertificate().subject.CN}`);
  });
  await new Promise((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  const socket = connect({
    port: tlsServer.address().port, host: '127.0.0.1', servername: 'localhost',
    ca: ca.rootCert, key: alice.key, cert: alice.chain,
  });
  let reply = '';
  socket.on('data', (chunk) => (reply += chunk));
  const protocol = await new Promise((resolve) => socket.once('secureConnect', () => resolve(socket.getProtocol())));
  await new Promise((resolve, reject) => { socket.on('end', resolve); socket.on('error', reject); });
  tlsServer.close();
  if (reply !== 'hello alice') throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
  console.log(`cjs: ${reply} over ${protocol}`);
}
main().catch((error) => { console.error(error); process.exit(1); });
JS
sed -e "s/^const { createServer, connect, DevelopmentCA } = require('continuous-tls');/import { createServer, connect, DevelopmentCA } from 'continuous-tls';/" \
    -e 's/cjs: /esm: /' handshake.cjs > handshake.mjs

# The README's quick start, both module flavours, exactly as written there.
extract() { awk -v marker="<!-- example: $1 -->" '$0 == marker { found = 1; next } found && /^```/ { if (inside) exit; inside = 1; next } inside { print }' "$repo/README.md"; }
extract quick-start-esm > quick-start.mjs
extract quick-start-cjs > quick-start.js
[ -s quick-start.mjs ] && [ -s quick-start.js ] || { echo "the README's quick start was not found"; exit 1; }

nodes=("$@")
[ "${#nodes[@]}" -gt 0 ] || nodes=("$(command -v node)")
for node in "${nodes[@]}"; do
  echo "node $("$node" --version):"
  PATH="$sandbox" "$node" handshake.cjs
  PATH="$sandbox" "$node" handshake.mjs
  PATH="$sandbox" "$node" quick-start.mjs
  PATH="$sandbox" "$node" quick-start.js
done
echo "install-check: ok"
