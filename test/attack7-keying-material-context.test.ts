// Attack: TLSSocket#exportKeyingMaterial (lib/tls/socket.ts) checks the length and the label but
// passes `context` to the addon unchecked, and the addon (native/tls_connection.cc
// ExportKeyingMaterial) takes it only when napi calls it a Buffer:
// - anything else (a string, a number, an object, an ArrayBuffer) is silently dropped and the
//   material is derived WITHOUT a context (RFC 5705 use_context = 0): exportKeyingMaterial(32, l,
//   'session-A') and (32, l, 'session-B') give the same bytes, equal to the context-less ones, so
//   keys an application separates by context are not separated (node:tls throws
//   ERR_INVALID_ARG_TYPE for all of these);
// - a DataView (an ArrayBufferView node:tls accepts) passes IsBuffer() but fails the cast: napi
//   throws inside the addon and the process aborts (FATAL ERROR: Error::ThrowAsJavaScriptException).
//
// The fix: in exportKeyingMaterial check `context` like the other arguments: undefined, or an
// ArrayBufferView (copied into a Buffer over the same bytes before the call); anything else is
// ERR_CTLS_INVALID_OPTION. In the addon, read the context with napi_get_typedarray_info /
// napi_get_dataview_info (or refuse all but a Buffer with a coded error), never As<Buffer>() on an
// unchecked value.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './helpers/certs';

const dist = join(__dirname, '..', 'dist');

/** Runs in a child: an abort there must fail this test, not end the runner. */
const script = `
const tls = require('node:tls');
const { createServer } = require(${JSON.stringify(join(dist, 'index.js'))});
const certs = JSON.parse(process.env.CERTS);
const contexts = {
  none: undefined,
  'string A': 'session-A',
  'string B': 'session-B',
  number: 42,
  object: { id: 'session-A' },
  ArrayBuffer: new ArrayBuffer(9),
  DataView: new DataView(new ArrayBuffer(9)),
};
const server = createServer({ key: certs.serverKey, cert: certs.serverChain });
server.on('secureConnection', (socket) => {
  // One line per context, as it is derived: an abort on one still leaves the earlier ones.
  for (const [name, context] of Object.entries(contexts)) {
    let result;
    try {
      result = socket.exportKeyingMaterial(32, 'EXPERIMENTAL-attack7', context).toString('hex');
    } catch (error) {
      result = 'threw ' + error.code;
    }
    console.log(JSON.stringify([name, result]));
  }
  socket.destroy();
  server.close();
});
server.listen(0, '127.0.0.1', () => {
  const client = tls.connect({ port: server.address().port, host: '127.0.0.1', ca: certs.ca, servername: 'localhost' });
  client.on('error', () => {});
});
`;

t.test('exportKeyingMaterial refuses a context that is not bytes, and never ends the process', async (t) => {
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, CERTS: JSON.stringify(certs) },
    encoding: 'utf8',
    timeout: 30_000,
  });
  const fatal = child.stderr.split('\n').find((line) => line.includes('FATAL')) ?? '';
  t.equal(child.signal, null, `the process is not killed (${child.signal ?? ''} ${fatal})`);
  t.equal(child.status, 0, 'and exits normally');
  const out: Record<string, string> = Object.fromEntries(
    child.stdout
      .split('\n')
      .filter((line) => line.startsWith('['))
      .map((line) => JSON.parse(line) as [string, string]),
  );
  t.match(out['none'], /^[0-9a-f]{64}$/, 'no context derives material');
  for (const name of ['string A', 'string B', 'number', 'object', 'ArrayBuffer']) {
    t.not(out[name], out['none'], `the ${name} context is not silently dropped`);
    t.equal(out[name], 'threw ERR_CTLS_INVALID_OPTION', `the ${name} context is refused with a coded error`);
  }
  // node:tls takes a DataView's bytes; refusing it with the coded error is fine too.
  t.match(out['DataView'], /^([0-9a-f]{64}|threw ERR_CTLS_INVALID_OPTION)$/, 'a DataView context is bytes or refused');
});
