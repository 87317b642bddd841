/**
 * Asking the SNICallback for the context a ClientHello's server name is served with, as node:tls
 * calls it. The answer always comes on a later tick, so user code never runs on the stack of the
 * cycle that reported the ClientHello, and a callback that throws counts as an error answer.
 */
import { invalidOption, ownedError } from '../common/errors.js';
import { isSecureContext, type SecureContext } from './context.js';

export type SNIAnswer = (error: Error | null, context?: SecureContext) => void;
export type SNICallback = (servername: string, callback: SNIAnswer) => void;

/** Calls `answer` once with the callback's verdict; with no callback or no name, with no context. */
export function askSniCallback(callback: SNICallback | undefined, servername: string, answer: SNIAnswer): void {
  if (callback === undefined || servername === '') {
    process.nextTick(answer, null);
    return;
  }
  let answered = false;
  try {
    callback(servername, (error, context) => {
      if (answered) {
        // node:tls destroys such a connection (ERR_MULTIPLE_CALLBACK): a second answer must not
        // swap the context the handshake, and every later re-check, verifies the client under.
        const again = invalidOption('SNICallback', 'a callback answered once per connection (it answered again)');
        process.nextTick(answer, again);
        return;
      }
      answered = true;
      // Only this library's contexts carry the trust the engine watches (node's own
      // tls.createSecureContext() result has none): anything else fails this connection alone.
      if (!error && context !== undefined && context !== null && !isSecureContext(context)) {
        const refused = invalidOption('SNICallback', "this library's SecureContext (createSecureContext())", context);
        process.nextTick(answer, refused);
        return;
      }
      // A client context (createSecureContext's default) given no `ca` trusts the public roots,
      // and this one would verify the server's clients: one missing `true` must not widen client
      // authentication to every public CA.
      if (!error && context !== undefined && context !== null && !context.isServer) {
        const refused = invalidOption(
          'SNICallback',
          'a server SecureContext (createSecureContext(options, true))',
          context,
        );
        process.nextTick(answer, refused);
        return;
      }
      const failure = error ? ownedError(error, 'ERR_CTLS_INVALID_OPTION', 'the SNICallback failed') : null;
      process.nextTick(answer, failure, context ?? undefined);
    });
  } catch (thrown) {
    // Whatever it throws, falsy values included, and even after it answered, fails the
    // connection: a handshake must not go on under the answer of a callback that failed.
    answered = true;
    process.nextTick(answer, ownedError(thrown, 'ERR_CTLS_INVALID_OPTION', 'the SNICallback threw'));
  }
}
