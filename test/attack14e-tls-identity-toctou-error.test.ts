// Attack: ownedError() keeps an app's thrown value as the destroy reason when it "is an Error that
// reads without throwing", checked by reading `stack` and `message` once. That is a check-then-use:
// an Error whose `stack` getter answers the first read and throws on the next (a lazily formatted
// stack, a Proxy, a hostile getter) passes the check, is handed to the socket's destroy(), and
// node's stream destroy() reads `err.stack` again: the throw escapes from the identity callback
// (a client identity provider whose identity's `key` getter threw that Error) and ends the process.
// A correct library never hands an app's value to node's destroy() on the strength of one read:
// it fails the connection with its own ERR_CTLS_IDENTITY_FAILED (the value as cause, or a copy it
// owns), and the process lives.
// Attack class: hostile thrown values reaching library bookkeeping (crash / DoS).
import t from 'tap';
import { runIdentityClient } from './helpers/identity-child';

const identity = `async () => ({
  get key() {
    const error = new Error('the key store is locked');
    let reads = 0;
    Object.defineProperty(error, 'stack', {
      get() {
        if (reads++ > 0) throw new Error('the stack getter throws on its second read');
        return 'Error: the key store is locked';
      },
    });
    throw error;
  },
  cert: certs.clientChain,
})`;

t.test('an Error whose stack getter throws on its second read fails the connection, not the process', async (t) => {
  const run = runIdentityClient(identity);
  t.equal(run.status, 0, `the process lives on (stdout: ${run.stdout}; stderr: ${run.stderr})`);
  t.match(run.stdout, /client closed/, 'the connection is closed');
});
