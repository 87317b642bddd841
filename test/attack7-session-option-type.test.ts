// Attack: connect({ session }) (lib/client.ts) hands `session` to the addon unchecked. The
// addon's TlsConnection constructor casts anything napi calls a Buffer: a DataView (an
// ArrayBufferView, as a session kept by other code may be) throws an uncoded "Invalid argument" out
// of connect() (no code, no option name), and a string or an object is silently ignored (a full
// handshake where the caller asked for resumption; node:tls throws ERR_INVALID_ARG_TYPE for both).
//
// The fix: check `session` in connect() like the other options: undefined or a Buffer (or any
// ArrayBufferView, copied into one), else ERR_CTLS_INVALID_OPTION naming "session".
import t from 'tap';
import { connect } from '../dist/index.js';

t.test('connect() refuses a session that is not bytes with a coded error', async (t) => {
  // Any ArrayBufferView is taken for its bytes, as node:tls takes it (a DataView included).
  const view = connect({ host: '127.0.0.1', port: 9, session: new DataView(new ArrayBuffer(64)) as unknown as Buffer });
  view.on('error', () => {});
  view.destroy();
  for (const [name, session] of [
    ['a string', 'not a session'],
    ['an object', { id: 'x' }],
  ] as const) {
    let socket: { destroy(): void; on(event: string, listener: () => void): unknown } | undefined;
    const error = (() => {
      try {
        // Port 9 on loopback (discard): nothing needs to answer, the options are checked first.
        socket = connect({ host: '127.0.0.1', port: 9, session: session as unknown as Buffer });
        socket.on('error', () => {});
        return undefined;
      } catch (caught) {
        return caught as Error & { code?: string };
      }
    })();
    socket?.destroy();
    t.equal(error?.code, 'ERR_CTLS_INVALID_OPTION', `${name} is refused with the coded error (${error?.message})`);
  }
});
