/**
 * attach(server, options): continuous authorization for an unmodified
 * node:tls / node:https server. node:tls offers no post-handshake auth, so
 * this tier revalidates the chain a connection already presented.
 */
import * as tls from 'node:tls';
import { emitWarning, invalidOption } from './errors.js';
import { SecureContext, type RevocationMode } from './context.js';
import { Authorizer, type DecisionEvent, type ReauthorizeSchedule } from './authorizer.js';
import { AttachedSubject } from './attached-subject.js';
import { registerAuthorizer } from './registry.js';
import { certificatesFromPem, type PemInput } from './pem.js';
import type { Decision, Policy } from './types.js';

export interface AttachOptions {
  /** The CAs the attachment revalidates against (usually the server's own `ca`). */
  ca: PemInput;
  /**
   * Untrusted intermediate CA certificates that complete a peer chain node:tls reports as a lone
   * leaf. Node 24.x and 26.8+ hide the intermediates a client presents from server sockets
   * (nodejs/node#65579); on those versions, list here the intermediates your clients' certificates
   * are issued by. Trust still comes from `ca` only.
   */
  intermediates?: PemInput;
  crl?: PemInput;
  revocation?: RevocationMode;
  policy?: Policy;
  reauthorize?: ReauthorizeSchedule;
  policyTimeout?: number;
  /** Deny peers without a certificate (default true: attach is for mTLS servers). */
  requireCertificate?: boolean;
}

export interface Attachment {
  readonly authorizer: Authorizer;
  setCa(ca: PemInput): Promise<Decision[]>;
  /** Replace the configured intermediates; every connection is re-decided with them. */
  setIntermediates(intermediates: PemInput | undefined): Promise<Decision[]>;
  setCrl(crl: PemInput | undefined): Promise<Decision[]>;
  setPolicy(policy: Policy | undefined): Promise<Decision[]>;
  connections(): Array<{ socket: tls.TLSSocket; decision: Decision | null }>;
  /** Stop tracking (connections stay open, no more re-checks). */
  detach(): void;
}

/**
 * Adds interval, expiry and revocation re-checks to an existing node:tls or
 * node:https server. Its connections are paused while a decision is pending
 * and destroyed when denied.
 */
export function attach(server: tls.Server, options: AttachOptions): Attachment {
  if (!(server instanceof tls.Server)) throw invalidOption('server', 'a node:tls or node:https Server', server);
  if (options === null || typeof options !== 'object') throw invalidOption('options', 'an object', options);
  if (options.ca === undefined) throw invalidOption('ca', 'the PEM CA(s) to revalidate peer chains against', options.ca);
  let intermediates = certificatesFromPem('intermediates', options.intermediates);
  const trust = new SecureContext(
    { ca: options.ca, ...(options.crl === undefined ? {} : { crl: options.crl }), ...(options.revocation === undefined ? {} : { revocation: options.revocation }) },
    true,
  );
  const authorizer = new Authorizer({
    trust,
    ...(options.policy === undefined ? {} : { policy: options.policy }),
    ...(options.reauthorize === undefined ? {} : { reauthorize: options.reauthorize }),
    ...(options.policyTimeout === undefined ? {} : { policyTimeout: options.policyTimeout }),
    requireVerified: true,
    requireCertificate: options.requireCertificate ?? true,
    auditWanted: () => server.listenerCount('decision') > 0,
  });
  const onSecure = (socket: tls.TLSSocket): void => {
    registerAuthorizer(socket, authorizer);
    // Runs before the app's own listener (prepended), so the socket is
    // paused before the app can start reading it.
    void authorizer.admit(new AttachedSubject(socket, true, trust, () => intermediates));
  };
  const forward = (event: DecisionEvent, socket: tls.TLSSocket): boolean => server.emit('decision', event, socket);
  const warn = (warning: Error): void => emitWarning(server, warning);
  server.prependListener('secureConnection', onSecure);
  authorizer.on('decision', forward);
  authorizer.on('warning', warn);
  return {
    authorizer,
    setCa(ca) {
      trust.setCa(ca);
      return authorizer.trustChanged();
    },
    setIntermediates(pem) {
      intermediates = certificatesFromPem('intermediates', pem);
      return authorizer.trustChanged();
    },
    setCrl(crl) {
      trust.setCrl(crl);
      return authorizer.trustChanged();
    },
    setPolicy(policy) {
      return authorizer.setPolicy(policy);
    },
    connections() {
      return authorizer.connections() as Array<{ socket: tls.TLSSocket; decision: Decision | null }>;
    },
    detach() {
      server.removeListener('secureConnection', onSecure);
      authorizer.removeListener('decision', forward);
      authorizer.removeListener('warning', warn);
      authorizer.close();
    },
  };
}
