// Attack: SecureContext#verifyChain (public, docs/api.md "context.verifyChain(chain[, purpose])")
// checks none of its arguments before the addon. A DataView among the certificates passes the
// addon's IsBuffer() test but not its Buffer conversion: the call throws a bare "Invalid argument"
// with no code. A chain that is not an array throws a TypeError from Array#map. A purpose other
// than the two documented ones is silently taken as 'sslclient': a caller that misspells
// 'sslserver' (here 'sslServer') has a client-only certificate reported as verified, the
// verification it asked for not having run.
//
// The fix: validate in verifyChain (lib/tls/context.ts) with lib/common/validate.ts: the chain an
// array of Buffers or X509Certificates (ERR_CTLS_INVALID_OPTION naming the entry otherwise) and
// purpose checkOneOf('purpose', purpose, ['sslclient', 'sslserver'], 'sslclient'); in the addon,
// accept only real Buffers (napi_is_buffer is true for every ArrayBufferView) and refuse an unknown
// purpose rather than defaulting.
import t from 'tap';
import { createSecureContext } from '../dist/index.js';
import { certs } from './helpers/certs';
import { derChain } from './helpers/owned';

const context = createSecureContext({ ca: certs.ca });
const chain = derChain(certs.clientChain);

/** The error code verifyChain throws, 'returned ok' or 'returned not ok'. */
function outcome(run: () => { ok: boolean }): string {
  try {
    return run().ok ? 'returned ok' : 'returned not ok';
  } catch (error) {
    return `threw ${(error as { code?: string }).code ?? `uncoded ${(error as Error).message}`}`;
  }
}

t.test('the client chain verifies as a client chain, and not as a server chain', async (t) => {
  t.equal(
    outcome(() => context.verifyChain(chain, 'sslclient')),
    'returned ok',
  );
  t.equal(
    outcome(() => context.verifyChain(chain, 'sslserver')),
    'returned not ok',
  );
});

t.test('verifyChain answers bad arguments with a coded error or a failed verification', async (t) => {
  const leaf = chain[0]!;
  const view = new DataView(leaf.buffer, leaf.byteOffset, leaf.length);
  const coded = /^(threw ERR_CTLS_\w+|returned not ok)$/;
  t.match(
    outcome(() => context.verifyChain([view as unknown as Buffer])),
    coded,
    'a DataView certificate',
  );
  t.match(
    outcome(() => context.verifyChain('not a chain' as unknown as Buffer[])),
    coded,
    'a chain that is no array',
  );
});

t.test('an unknown purpose is refused, not verified as another purpose', async (t) => {
  const result = outcome(() => context.verifyChain(chain, 'sslServer' as 'sslserver'));
  t.match(result, /^threw ERR_CTLS_INVALID_OPTION$/, `a misspelt purpose (${result})`);
});
