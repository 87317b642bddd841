/**
 * Asking the SNICallback for the context a ClientHello's server name is served with, as node:tls
 * calls it. The answer always comes on a later tick, so user code never runs on the stack of the
 * cycle that reported the ClientHello, and a callback that throws counts as an error answer.
 */
import { invalidOption } from '../common/errors.js';
import { isSecureContext, type SecureContext } from './context.js';

export type SNIAnswer = (error: Error | null, context?: SecureContext) => void;
export type SNICallback = (servername: string, callback: SNIAnswer) => void;

/** Calls `answer` once with the callback's verdict; with no callback or no name, with no context. */
export function askSniCallback(callback: SNICallback | undefined, servername: string, answer: SNIAnswer): void {
  if (callback === undefined || servername === '') {
    process.nextTick(answer, null);
    return;
  }
  try {
    callback(servername, (error, context) => {
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
      process.nextTick(answer, error ?? null, context ?? undefined);
    });
  } catch (error) {
    answer(error as Error);
  }
}
