// Attack: getInfo()'s result object is built with Napi::Object::Set (native/tls_connection.cc,
// TlsConnection::GetInfo), which is [[Set]]: an accessor on Object.prototype named `sessionReused`
// (app code: a setter-only "observer", a polyfill) takes the write, and the object the library reads
// has no own `sessionReused`. lib/tls/peer-verification.ts verifiedChain() decides whether to verify
// a resumed session itself with `handle.getInfo().sessionReused`: read as undefined, it skips its
// own verification and concludes `authorized: true` because OpenSSL recorded no verify error —
// OpenSSL ran no verification on the resumed session at all (docs/security.md: "OpenSSL skips
// verification on resumption; we do not"). A client whose CA no longer trusts the server (here: a
// different CA, rejectUnauthorized on) resumes a session and the connection is authorized and kept.
//
// The fix: define the result's properties (DefineOwn, as the errors now are), or read them in lib
// as own data properties only (Object.getOwnPropertyDescriptor / a null-prototype object).
// Fixed: every object and array the addon returns is now built with defined properties
// (native/js_values.h); the setter never runs, and the resumption is shown by a control instead.
import t from 'tap';
import { connect, createServer, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, SOON } from './helpers/owned';

t.test(
  'a resumed session is verified by the library even with a sessionReused setter on Object.prototype',
  async (t) => {
    const server = createServer({ key: certs.serverKey, cert: certs.serverChain, maxVersion: 'TLSv1.3' });
    server.on('secureConnection', (socket: TLSSocket) => socket.on('error', () => {}));
    const port = await listen(t, server);

    const first = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca });
    first.on('error', () => {});
    t.teardown(() => first.destroy());
    const [session] = await waitFor<[Buffer]>(first, 'session', SOON);

    const observed: unknown[] = [];
    Object.defineProperty(Object.prototype, 'sessionReused', {
      configurable: true,
      set(value: unknown) {
        observed.push(value);
      },
    });
    t.teardown(() => {
      delete (Object.prototype as Record<string, unknown>).sessionReused;
    });

    // With the right CA the session resumes, and the library says so through the same read.
    const control = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, session });
    control.on('error', () => {});
    t.teardown(() => control.destroy());
    await waitFor(control, 'secureConnect', SOON);
    t.ok(control.isSessionReused(), 'the session resumes with this server');
    t.ok(control.authorized, 'and the resumed connection is authorized under the right CA');
    control.destroy();

    // The same server, now under a CA that does not issue its certificate.
    const second = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.wrongCa, session });
    t.teardown(() => second.destroy());
    const outcome = await new Promise<string>((resolve) => {
      second.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
      second.on('secureConnect', () => resolve(`connected authorized=${second.authorized}`));
      setTimeout(() => resolve('timeout'), 5000).unref();
    });
    delete (Object.prototype as Record<string, unknown>).sessionReused;
    first.destroy();
    second.destroy();
    t.same(observed, [], "the addon defines getInfo()'s properties: the setter never ran");
    t.match(outcome, /^error /, 'a resumed session whose server the CA does not trust is refused');
    t.not(outcome, 'connected authorized=true', 'and never authorized');
  },
);
