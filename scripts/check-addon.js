#!/usr/bin/env node
'use strict';
// Checks a built addon: `node scripts/check-addon.js [path/to/continuous_tls.node]`
// (default: node-gyp's build/Release/continuous_tls.node).
//
// 1. Linkage: the addon must use the OpenSSL the node binary exports, so its
//    dynamic dependencies (ldd on Linux, otool -L on macOS) must not name
//    libssl or libcrypto. A system OpenSSL of the same version would load
//    without complaint and split the process between two OpenSSL copies.
// 2. Loading: a child process loads the library with CONTINUOUS_TLS_ADDON
//    pointing at this file, checks that this very file (not a fallback from
//    build/) is the one that got loaded, prints opensslVersion, and runs one
//    TLS handshake on loopback. Node loads addons with lazy binding, so an
//    OpenSSL symbol missing from node would only fail when first called.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const SMOKE_TIMEOUT_MS = 30_000;

function fail(message) {
  console.error(`check-addon: ${message}`);
  process.exit(1);
}

/** The shared libraries the addon asks for, or null where there is no tool to list them. */
function dynamicDependencies(file) {
  const tool =
    process.platform === 'linux' ? ['ldd', [file]] : process.platform === 'darwin' ? ['otool', ['-L', file]] : null;
  if (tool === null) return null;
  try {
    return execFileSync(tool[0], tool[1], { encoding: 'utf8' });
  } catch (error) {
    fail(`${tool[0]} failed on ${file}: ${error.message}`);
  }
}

function checkLinkage(file) {
  const listing = dynamicDependencies(file);
  if (listing === null) {
    console.log(`check-addon: no dependency lister on ${process.platform}; linkage not checked`);
    return;
  }
  const offending = listing.split('\n').filter((line) => /\blib(ssl|crypto)\b/.test(line));
  if (offending.length > 0) {
    fail(
      `${file} links a separate OpenSSL; it must resolve OpenSSL from the node binary:\n  ` +
        offending.map((line) => line.trim()).join('\n  '),
    );
  }
  console.log(`check-addon: linkage ok (no libssl/libcrypto)`);
}

// Runs in the child process. Kept as a function so that it is real, linted
// code; it is passed to `node -e` as source text.
function smoke() {
  const fsChild = require('node:fs');
  const { once } = require('node:events');
  const expected = fsChild.realpathSync(process.env.CONTINUOUS_TLS_ADDON);
  const lib = require(process.env.CTLS_CHECK_ENTRY);
  const loaded = Object.keys(require.cache).filter((name) => name.endsWith('.node'));
  if (loaded.length !== 1 || fsChild.realpathSync(loaded[0]) !== expected) {
    throw new Error(`expected the library to load ${expected}, but it loaded ${loaded.join(', ') || 'nothing'}`);
  }
  console.log(`check-addon: opensslVersion ${lib.opensslVersion}`);
  if (!/^OpenSSL 3\./.test(lib.opensslVersion)) throw new Error(`unexpected opensslVersion ${lib.opensslVersion}`);

  const { DevelopmentCA } = require(process.env.CTLS_CHECK_PKI);
  (async () => {
    const ca = await DevelopmentCA.create();
    const identity = await ca.issueServer({ commonName: 'localhost' });
    const context = lib.createSecureContext({ key: identity.key, cert: identity.chain }, true);
    const server = lib.createServer({ secureContext: context }, (socket) => socket.end('pong'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = lib.connect({
      port: server.address().port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: ca.rootCert,
    });
    let reply = '';
    let protocol = null;
    client.once('secureConnect', () => (protocol = client.getProtocol()));
    client.on('data', (chunk) => (reply += chunk));
    await once(client, 'end');
    server.close();
    if (reply !== 'pong') throw new Error(`loopback handshake answered ${JSON.stringify(reply)}`);
    console.log(`check-addon: loopback handshake ok (${protocol})`);
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

function checkLoading(file) {
  const entry = path.join(root, 'dist', 'index.js');
  const pki = path.join(root, 'dist', 'dev', 'pki.js');
  if (!fs.existsSync(entry) || !fs.existsSync(pki)) fail('dist/ is not built; run `npm run build` first');
  const result = spawnSync(process.execPath, ['-e', `(${smoke.toString()})()`], {
    env: { ...process.env, CONTINUOUS_TLS_ADDON: file, CTLS_CHECK_ENTRY: entry, CTLS_CHECK_PKI: pki },
    stdio: 'inherit',
    timeout: SMOKE_TIMEOUT_MS,
  });
  if (result.error) fail(`could not run the smoke test: ${result.error.message}`);
  if (result.status !== 0) fail(`loading ${file} failed (exit ${result.status ?? result.signal})`);
}

function main() {
  const file = path.resolve(process.argv[2] ?? path.join(root, 'build', 'Release', 'continuous_tls.node'));
  if (!fs.existsSync(file)) fail(`${file} does not exist; build it first`);
  console.log(`check-addon: ${path.relative(process.cwd(), file) || file}`);
  checkLinkage(file);
  checkLoading(file);
}

main();
