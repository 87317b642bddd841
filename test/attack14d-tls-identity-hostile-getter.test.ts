// Attack: a client's identity provider (connect({ identity: fn })) is the app's own callback. The
// last fix guards what a *rejection* says (describeThrown), but an identity object the provider
// resolves with is read later, in presentIdentity(), and whatever its `key`/`cert` getter throws is
// passed as-is to the socket's #fail(), which hands it to destroy(error) when an 'error' listener
// is on. node's stream destroy() reads `err.stack` of what it is given: a revoked Proxy (or an
// object whose stack getter throws) makes destroy() throw out of the identity callback, inside a
// promise handler: an unhandled rejection ends the process under node's default.
// A correct library never hands an app's thrown value to node as the destroy reason: it fails the
// connection with its own ERR_CTLS_IDENTITY_FAILED (the thrown value as cause), the process lives.
// Attack class: hostile thrown values reaching library bookkeeping (crash / DoS).
import t from 'tap';
import { runIdentityClient } from './helpers/identity-child';

for (const [name, thrown] of [
  ['a revoked Proxy', '(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy; })()'],
  ['an object whose stack getter throws', "({ get stack() { throw new Error('gotcha'); } })"],
] as const) {
  t.test(`an identity whose key getter throws ${name} fails that connection, not the process`, async (t) => {
    const run = runIdentityClient(`async () => ({ get key() { throw ${thrown}; }, cert: certs.clientChain })`);
    t.equal(run.status, 0, `the process lives on (stdout: ${run.stdout}; stderr: ${run.stderr})`);
    t.match(run.stdout, /client closed/, 'the connection is closed');
  });
}
