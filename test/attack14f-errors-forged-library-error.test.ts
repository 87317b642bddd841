// Attack: ownedError() now passes on "only errors the library constructed", tracked by a WeakSet
// filled in ContinuousTlsError's constructor. But ContinuousTlsError is exported: an app (or a
// hostile dependency) can `new ContinuousTlsError(...)` or subclass it, and the constructor puts
// that object in the "library-made" set. Give it a `stack` getter that answers the first read and
// throws on the next, throw it from a client identity provider (its identity's `key` getter),
// and ownedError() hands the app's object to the socket's destroy(); node's stream destroy()
// reads `err.stack` and the throw escapes mid-destroy (observed: the client socket never emits
// 'error' or 'close', the connection is left hanging for good; with another stack the throw ends
// the process). The 14e fix closed exactly this with a plain Error; the library-made set is
// reachable by any app that constructs or subclasses the exported class.
// A correct library never hands a value the app could have made or altered to node's destroy():
// it fails the connection with its own fresh error (the value as cause) and the process lives.
// Attack class: hostile thrown values reaching library bookkeeping / destroy() (crash / DoS).
import t from 'tap';
import { runIdentityClient } from './helpers/identity-child';

const forged = `
class Forged extends ContinuousTlsError {
  constructor() {
    super('ERR_CTLS_INVALID_OPTION', 'looks like the library made it');
    let reads = 0;
    Object.defineProperty(this, 'stack', {
      configurable: true,
      get() {
        if (reads++ > 0) throw new Error('the stack getter throws on its second read');
        return 'ContinuousTlsError: looks like the library made it';
      },
    });
  }
}`;

t.test('a forged "library" error thrown by an identity provider fails the connection, not the process', async (t) => {
  const run = runIdentityClient('async () => ({ get key() { throw new Forged(); }, cert: certs.clientChain })', forged);
  t.equal(run.status, 0, `the process lives on (stdout: ${run.stdout}; stderr: ${run.stderr})`);
  t.match(run.stdout, /client closed/, 'the connection is closed');
});
