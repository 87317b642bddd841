// Attack (crash from a handshake): the fix for a `null` answer from checkServerIdentity judges any
// truthy non-Error answer as a refusal and names it with `String(answer)`, outside the try that
// guards the call itself. An answer that cannot be made a string (an object without a prototype,
// e.g. a result record built with Object.create(null) or parsed from a pinning table, or one whose
// toString throws) throws a TypeError from that String() call inside the handshake's record cycle:
// nothing catches it, so it surfaces as an uncaught exception and takes the client process down on
// the first handshake (the same class the fix meant to close: "never throws out of the handshake").
// An Error whose `code` or `message` is a throwing getter does the same.
//
// A correct library judges every answer inside its guard: anything truthy that is not a plain
// Error refuses that server with a coded error on that connection, never an exception out of the
// record cycle.
//
// Attack class: crash from a handshake (app callback output not contained).
import t from 'tap';
import { handshakeWithIdentityCheck } from './helpers/identity-check';

t.test('a checkServerIdentity answer that cannot be printed fails the connection, not the process', async (t) => {
  const { connected, errorCodes, uncaught } = await handshakeWithIdentityCheck(
    t,
    // A refusal record without a prototype: truthy, not an Error, no toString.
    () => Object.create(null) as unknown as Error,
  );
  t.same(
    uncaught.map((error) => error.message),
    [],
    'no exception escapes the handshake',
  );
  t.equal(connected, false, 'the server is refused');
  t.same(errorCodes, ['ERR_CTLS_HOSTNAME_MISMATCH'], 'with a coded error on that connection');
});

t.test('an Error whose code or message getter throws fails the connection, not the process', async (t) => {
  const hostile = (property: 'code' | 'message') => () => {
    const error = new Error('refused');
    Object.defineProperty(error, property, {
      get() {
        throw new Error(`${property} getter`);
      },
    });
    return error;
  };
  for (const property of ['code', 'message'] as const) {
    const { connected, uncaught } = await handshakeWithIdentityCheck(t, hostile(property));
    t.same(
      uncaught.map((error) => error.message),
      [],
      `no exception escapes the handshake (${property})`,
    );
    t.equal(connected, false, `the server is refused (${property})`);
  }
});
