/**
 * The GuardHost of an engine-backed target (an owned Server, an Attachment): guards go to its
 * engine, targeted re-checks to the engine's index, shared CRLs to its trust contexts.
 */
import type { Decision } from '../common/types.js';
import type { SecureContext } from '../tls/context.js';
import type { Authorizer } from './authorizer.js';
import type { GuardHost } from './guard.js';

/**
 * A host over `authorizer`. `contexts()` lists every trust context the target serves connections
 * with (its own and its SNI ones), so a shared CRL reaches each; `trustChange` tells the target's
 * own listeners, as its setCrl() does.
 */
export function engineGuardHost(
  kind: GuardHost['kind'],
  authorizer: Authorizer,
  contexts: () => readonly SecureContext[],
  trustChange: () => void = () => {},
): GuardHost {
  return {
    kind,
    addGuard: (guard) => authorizer.addGuard(guard),
    removeGuard: (guard) => authorizer.removeGuard(guard),
    recheckKeys: (keys, trigger) => authorizer.recheckKeys(keys, trigger),
    invalidatePolicy: () => authorizer.invalidatePolicy(),
    async setSharedCrls(pems): Promise<Decision[]> {
      const all = contexts();
      // Every context takes the list or none does: one that cannot parse it leaves all unchanged.
      const applied: SecureContext[] = [];
      try {
        for (const context of all) {
          context.setSharedCrls(pems);
          applied.push(context);
        }
      } catch (error) {
        for (const context of applied) context.setSharedCrls([]);
        throw error;
      }
      trustChange();
      const decided = await Promise.all(all.map((context) => authorizer.trustChanged(context)));
      return decided.flat();
    },
    get connectionCount() {
      return authorizer.connectionCount;
    },
  };
}
