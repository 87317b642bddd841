// The built package as a user gets it: `require` and `import` of 'continuous-tls' (resolved through
// package.json "exports", the package referring to itself), shipped types, the addon's OpenSSL, the
// addon's linkage, and the error when the addon is missing.
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { opensslVersion } from '../dist/index.js';

const root = join(__dirname, '..');
const CHILD_TIMEOUT_MS = 30_000;

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node <args>` in `cwd` and resolves with its exit code and output (never rejects on exit code). */
function node(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: options.cwd ?? root, env: options.env ?? process.env, timeout: CHILD_TIMEOUT_MS, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

/** The last stdout line of a child, parsed as JSON (the child prints exactly one JSON report). */
function parseReport(t: Test, result: ChildResult): Record<string, unknown> {
  const line = result.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    t.fail('child printed no JSON report', { stdout: result.stdout, stderr: result.stderr });
    return {};
  }
}

/** As parseReport, after checking that the child exited 0. */
function report(t: Test, result: ChildResult): Record<string, unknown> {
  t.equal(result.code, 0, 'child exits 0', { stderr: result.stderr });
  return parseReport(t, result);
}

t.test('require() and import() of the package name give the same module', async (t) => {
  // CommonJS entry, then the ESM facade from the same process: one addon, one set of classes.
  const fromCjs = report(
    t,
    await node([
      '-e',
      `const lib = require('continuous-tls');
       import('continuous-tls').then((esm) => console.log(JSON.stringify({
         createServer: typeof lib.createServer,
         sameCreateServer: esm.createServer === lib.createServer,
         sameDefault: esm.default === lib,
         resolved: require.resolve('continuous-tls'),
         opensslVersion: lib.opensslVersion,
       })));`,
    ]),
  );
  t.equal(fromCjs.createServer, 'function');
  t.equal(fromCjs.sameCreateServer, true, 'import() from CommonJS yields the same createServer');
  t.equal(fromCjs.sameDefault, true);
  t.equal(fromCjs.resolved, join(root, 'dist', 'index.js'), 'require resolves to the "require" condition');

  // An ES module importing by name, then requiring by name.
  const fromEsm = report(
    t,
    await node([
      '--input-type=module',
      '-e',
      `import { createServer, connect, opensslVersion } from 'continuous-tls';
       import * as namespace from 'continuous-tls';
       import { createRequire } from 'node:module';
       const require = createRequire(import.meta.url);
       const cjs = require('continuous-tls');
       console.log(JSON.stringify({
         createServer: typeof createServer,
         connect: typeof connect,
         sameCreateServer: cjs.createServer === createServer,
         sameConnect: cjs.connect === connect,
         exportNames: Object.keys(namespace).filter((name) => name !== 'default').sort(),
         cjsNames: Object.keys(cjs).filter((name) => name !== '__esModule').sort(),
         opensslVersion,
       }));`,
    ]),
  );
  t.equal(fromEsm.createServer, 'function');
  t.equal(fromEsm.connect, 'function');
  t.equal(fromEsm.sameCreateServer, true, 'import and require share one createServer');
  t.equal(fromEsm.sameConnect, true);
  t.same(fromEsm.exportNames, fromEsm.cjsNames, 'the ESM facade re-exports every CommonJS export');
  t.equal(fromEsm.opensslVersion, fromCjs.opensslVersion);
});

t.test('the addon runs on OpenSSL 3', async (t) => {
  t.type(opensslVersion, 'string');
  t.match(opensslVersion, /^OpenSSL 3\./);
  t.equal(opensslVersion.split(' ')[1], process.versions.openssl.replace(/\+.*$/, ''), "it is node's own OpenSSL");
});

t.test('types are shipped for both entry points', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    types: string;
    exports: Record<string, Record<string, string>>;
  };
  t.equal(pkg.exports['.']?.types, './dist/index.d.ts');
  for (const file of ['dist/index.d.ts', 'dist/index.d.mts', 'dist/index.mjs', pkg.types]) {
    t.ok(existsSync(join(root, file)), `${file} exists`);
  }
  const declarations = readFileSync(join(root, 'dist', 'index.d.ts'), 'utf8');
  for (const name of ['createServer', 'connect', 'TLSSocket', 'createSecureContext', 'opensslVersion']) {
    t.match(declarations, new RegExp(`\\b${name}\\b`), `index.d.ts declares ${name}`);
  }
});

t.test(
  "node-gyp's addon links no OpenSSL of its own and loads",
  { skip: process.platform !== 'linux' && 'ldd is Linux-only' },
  async (t) => {
    // The same check `npm run build:cmake` applies to its output (scripts/check-addon.js).
    const addon = join(root, 'build', 'Release', 'continuous_tls.node');
    const result = await node([join(root, 'scripts', 'check-addon.js'), addon]);
    t.equal(result.code, 0, 'check-addon passes', { stdout: result.stdout, stderr: result.stderr });
    t.match(result.stdout, /linkage ok/);
    t.match(result.stdout, /loopback handshake ok/);
  },
);

t.test('a missing addon fails with ERR_CTLS_NATIVE_LOAD and says what to do', async (t) => {
  // A copy of the package without build/, as after an install whose build script did not run.
  // The repository's own build/ is never touched (other test files use it concurrently).
  const copy = mkdtempSync(join(tmpdir(), 'ctls-package-'));
  t.teardown(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
  const bogus = join(copy, 'not-an-addon.node');
  writeFileSync(bogus, 'this is not a shared object\n');
  const env = { ...process.env, CONTINUOUS_TLS_ADDON: bogus };

  const probe = (load: string): string =>
    `${load}.then(() => console.log(JSON.stringify({ loaded: true })),
       (error) => console.log(JSON.stringify({ code: error.code, message: error.message })));`;
  const fromRequire = report(
    t,
    await node(['-e', probe("new Promise((resolve) => resolve(require('continuous-tls')))")], { cwd: copy, env }),
  );
  const imported = await node(['--input-type=module', '-e', probe("import('continuous-tls')")], { cwd: copy, env });
  const fromImport = parseReport(t, imported);
  // The ESM facade statically imports the CommonJS build; on Node 20 a CommonJS module that throws
  // under a static import is *also* raised as an uncaught exception (nodejs/node#51603), so an app
  // that catches the failed import() still dies. Loading the CommonJS build with createRequire()
  // inside the facade turns it into a plain evaluation error.
  t.equal(imported.code, 0, 'import: a caught import() failure does not also crash the process', {
    stderr: imported.stderr,
  });
  for (const [how, outcome] of [
    ['require', fromRequire],
    ['import', fromImport],
  ] as const) {
    t.equal(outcome.code, 'ERR_CTLS_NATIVE_LOAD', `${how}: coded error`);
    const message = String(outcome.message);
    t.match(message, 'npm rebuild continuous-tls', `${how}: the message names the command a user runs`);
    t.notMatch(message, 'build:native', `${how}: not the repository's own script`);
    t.match(message, bogus, `${how}: the message names the CONTINUOUS_TLS_ADDON file it tried`);
    t.match(
      message,
      `${copy}: No native build was found`,
      `${how}: and where it looked for a build or prebuilt binary`,
    );
  }
});

t.test('an addon that refuses the OpenSSL under it stops the load with ERR_CTLS_OPENSSL_TOO_OLD', async (t) => {
  // The addon's init throws this when node exports an OpenSSL older than 3.0; no Node this suite
  // runs on is that old, so a stand-in module throws what the addon would. The loader must pass it
  // on as it is, not fall back to build/Release (which loads fine here) nor blur it into
  // ERR_CTLS_NATIVE_LOAD: building again would not help.
  const dir = mkdtempSync(join(tmpdir(), 'ctls-old-openssl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const standIn = join(dir, 'refusing-addon.js');
  writeFileSync(
    standIn,
    [
      "const error = new Error('continuous-tls needs OpenSSL >= 3.0, but Node runs OpenSSL 1.1.1w  11 Sep 2023');",
      "error.code = 'ERR_CTLS_OPENSSL_TOO_OLD';",
      'throw error;',
      '',
    ].join('\n'),
  );
  const outcome = parseReport(
    t,
    await node(
      [
        '-e',
        `
    try { require(${JSON.stringify(join(root, 'dist', 'index.js'))}); console.log(JSON.stringify({ loaded: true })); }
    catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }`,
      ],
      { env: { ...process.env, CONTINUOUS_TLS_ADDON: standIn } },
    ),
  );
  t.equal(outcome.code, 'ERR_CTLS_OPENSSL_TOO_OLD');
  t.match(String(outcome.message), /needs OpenSSL >= 3\.0, but Node runs OpenSSL 1\.1\.1w/);
});
