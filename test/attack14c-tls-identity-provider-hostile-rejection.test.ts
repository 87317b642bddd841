// Attack: a client's identity provider (connect({ identity: fn })) is the app's own callback; when
// its promise rejects, askIdentity() builds ERR_CTLS_IDENTITY_FAILED with
// `error instanceof Error ? error.message : String(error)`, read outside any guard, inside the
// rejection handler. A rejection value that is a revoked Proxy (instanceof throws), or an object
// whose message getter or toString throws, makes that handler throw: the identity callback is never
// answered, and the handler's own promise rejects with nobody listening, an unhandled rejection,
// which ends the process under node's default (--unhandled-rejections=throw). The connection
// itself then only fails at the identity timeout.
// A correct library reads a rejection value without letting it throw again (as warnOfFailure
// does): that one connection fails at once with ERR_CTLS_IDENTITY_FAILED, the process lives on.
// Attack class: hostile thrown values reaching library bookkeeping (crash / DoS).
import t from 'tap';
import { runIdentityClient } from './helpers/identity-child';

for (const [name, rejection] of [
  ['a revoked Proxy', '(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })()'],
  ['an object whose toString throws', "({ toString() { throw new Error('gotcha'); } })"],
] as const) {
  t.test(`an identity provider rejecting with ${name} fails that connection, not the process`, async (t) => {
    const run = runIdentityClient(`() => Promise.reject(${rejection})`);
    t.equal(run.status, 0, `the process lives on (stderr: ${run.stderr})`);
    t.match(run.stdout, /client error ERR_CTLS_IDENTITY_FAILED/, 'the connection fails with the provider failure');
    t.match(run.stdout, /client closed/, 'the connection is closed');
  });
}
