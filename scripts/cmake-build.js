#!/usr/bin/env node
'use strict';
// `npm run build:cmake`: the alternative native build with cmake-js, into
// build-cmake/ so that it never disturbs node-gyp's build/. Extra arguments
// go to cmake-js (e.g. `npm run build:cmake -- --debug`).
//
// Offline by construction: package.json's "binary.napi_versions" puts
// cmake-js in Node-API mode, where it downloads no headers, and
// npm_config_nodedir (the only place cmake-js reads a Node headers location
// from) is set to the running Node's own prefix unless the caller set it.
// CMakeLists.txt takes Node's openssl/ headers from there.
//
// The result is then checked like node-gyp's: scripts/check-addon.js loads it
// through CONTINUOUS_TLS_ADDON, runs a loopback handshake and fails when ldd
// shows libssl/libcrypto.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const outDir = 'build-cmake';

function fail(message) {
  console.error(`build:cmake: ${message}`);
  process.exit(1);
}

function run(args, env) {
  const result = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' });
  if (result.error) fail(`could not run ${args[0]}: ${result.error.message}`);
  if (result.status !== 0) fail(`${path.basename(args[0])} exited with ${result.status ?? result.signal}`);
}

/** The configuration cmake-js builds, hence its output folder: -B/--config, else -D/--debug, else Release. */
function buildConfig(args) {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if ((arg === '-B' || arg === '--config') && args[i + 1] !== undefined) return args[i + 1];
    if (arg.startsWith('--config=')) return arg.slice('--config='.length);
  }
  return args.includes('-D') || args.includes('--debug') ? 'Debug' : 'Release';
}

function main() {
  const env = { ...process.env };
  if (!env.npm_config_nodedir) env.npm_config_nodedir = path.resolve(process.execPath, '..', '..');
  const sslHeader = path.join(env.npm_config_nodedir, 'include', 'node', 'openssl', 'ssl.h');
  if (!fs.existsSync(sslHeader)) {
    fail(
      `Node's OpenSSL headers are not at ${sslHeader}; set npm_config_nodedir to a Node prefix ` +
        '(or headers tarball dir) that has include/node/openssl',
    );
  }
  console.log(`build:cmake: Node headers from ${env.npm_config_nodedir}`);

  // The package's bin script, run with this node: no dependence on PATH or on
  // the node_modules/.bin shim (a .cmd on Windows).
  const cmakeJs = path.join(
    path.dirname(require.resolve('cmake-js/package.json', { paths: [root] })),
    'bin',
    'cmake-js',
  );
  const extra = process.argv.slice(2);
  run([cmakeJs, 'build', '--out', outDir, `--CDNODE_EXECUTABLE=${process.execPath}`, ...extra], env);

  const config = buildConfig(extra);
  const addon = path.join(root, outDir, config, 'continuous_tls.node');
  if (!fs.existsSync(addon)) fail(`cmake-js finished but ${path.relative(root, addon)} is missing`);
  run([path.join(__dirname, 'check-addon.js'), addon], env);
  console.log(
    `build:cmake: ${path.relative(root, addon)} ok; use it with CONTINUOUS_TLS_ADDON=${path.relative(root, addon)}`,
  );
}

main();
