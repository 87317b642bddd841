// Attack: the SNICallback is the app's own callback; the library promises that "a callback that
// throws counts as an error answer" (the connection fails). askSniCallback() catches the throw and
// calls answer(error) with the thrown value, and the socket tests `if (error)`: a thrown value that
// is falsy (undefined, null, 0, '') is taken for a success with no context, and the handshake goes on
// under the server's default context. An SNICallback that refuses a name by throwing (a lookup
// failure surfacing as `throw undefined`, a rejected `await` of a falsy reason in a sync wrapper)
// lets that peer in on the default context instead of failing the connection: fail-open.
// A correct library fails the connection whenever the callback throws, whatever it throws (a
// throw is recorded as "threw", not as the thrown value's truthiness).
// Attack class: hostile thrown values / fail-open on app callback failure.
import t from 'tap';
import { sniAdmits } from './helpers/owned-sni';

for (const [name, thrown] of [
  ['undefined', undefined],
  ['null', null],
  ['0', 0],
  ["''", ''],
] as const) {
  t.test(`an SNICallback that throws ${name} fails the connection`, async (t) => {
    const admitted = await sniAdmits(t, () => {
      throw thrown;
    });
    t.equal(admitted, false, 'the server did not admit a connection its SNICallback threw on');
  });
}
