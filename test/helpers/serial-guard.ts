/**
 * A decision guard that revokes serials on demand, as a fleet's does: it denies a chain holding a
 * revoked serial ('certificate-revoked'), indexes each peer under every serial it judges, and
 * records the serials of every chain it was asked about (latest last).
 */
import type { DecisionGuard, GuardFacts } from '../../dist/authz/guard.js';

export class SerialGuard implements DecisionGuard {
  generation = 0;
  readonly revoked = new Set<string>();
  readonly judged: string[][] = [];

  judge(facts: GuardFacts): { deny: string } | Record<string, never> {
    this.judged.push(facts.chain.map((certificate) => certificate.serialNumber));
    return facts.chain.some((certificate) => this.revoked.has(certificate.serialNumber))
      ? { deny: 'certificate-revoked' }
      : {};
  }

  keys(facts: GuardFacts): string[] {
    return facts.chain.map((certificate) => `serial:${certificate.serialNumber}`);
  }

  revoke(serial: string): void {
    this.revoked.add(serial);
    this.generation++;
  }
}
