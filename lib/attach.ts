/**
 * attach(server, options): continuous authorization for an unmodified
 * node:tls / node:https server. node:tls offers no post-handshake auth, so
 * this tier revalidates the chain a connection already presented.
 */
import * as tls from 'node:tls';
import { emitWarning, invalidOption } from './errors.js';
import { SecureContext, type RevocationMode } from './context.js';
import { Authorizer, type DecisionEvent, type ReauthorizeSchedule } from './authorizer.js';
import type { X509Certificate } from 'node:crypto';
import { AttachedSubject, type PresentedChains } from './attached-subject.js';
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
 * How many leaves' verified intermediates an attachment remembers for resumed sessions. A leaf
 * pushed out is not lost trust: its next resumption is denied, its next full handshake remembered.
 */
const MAX_REMEMBERED_CHAINS = 16_384;

/** Bounded, least recently used out; keyed by fingerprint, answered only for the exact same DER. */
function presentedChains(): PresentedChains {
  const chains = new Map<string, { leaf: X509Certificate; intermediates: readonly X509Certificate[] }>();
  return {
    recall(leaf) {
      const key = leaf.fingerprint256;
      const entry = chains.get(key);
      if (entry === undefined || !entry.leaf.raw.equals(leaf.raw)) return undefined;
      chains.delete(key);
      chains.set(key, entry);
      return entry.intermediates;
    },
    remember(leaf, intermediates) {
      const key = leaf.fingerprint256;
      chains.delete(key);
      // A self-issued certificate is a root: trust comes from the attachment's CAs only.
      chains.set(key, { leaf, intermediates: intermediates.filter((c) => !c.checkIssued(c)) });
      if (chains.size > MAX_REMEMBERED_CHAINS) chains.delete(chains.keys().next().value!);
    },
  };
}

/**
 * Adds interval, expiry and revocation re-checks to an existing node:tls or
 * node:https server. No listener of the server sees a connection before its
 * first decision allows it; afterwards its data is held while a decision is
 * pending or lapsed, and it is destroyed when denied.
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
  const chains = presentedChains();
  // node emits 'secureConnection' once a handshake is done, and its listeners (the app's, and the
  // https / http2 servers' own, which hand the TLS handle to a native parser) start reading at
  // once. The emission itself is held back until the first decision allows: a denied connection
  // is never seen by any listener, whenever it was added. Wrapping emit rather than moving the
  // listeners also covers listeners added after attach().
  const emit = server.emit;
  let attached = true;
  const gatedEmit = function (this: tls.Server, event: string | symbol, ...args: unknown[]): boolean {
    const socket = args[0];
    if (event !== 'secureConnection' || !attached || !(socket instanceof tls.TLSSocket)) {
      return Reflect.apply(emit, this, [event, ...args]) as boolean;
    }
    admit(this, socket, args);
    return this.listenerCount('secureConnection') > 0;
  };
  const admit = (target: tls.Server, socket: tls.TLSSocket, args: unknown[]): void => {
    registerAuthorizer(socket, authorizer);
    const subject = new AttachedSubject(socket, true, { trust, intermediates: () => intermediates, chains });
    authorizer.admit(subject).then(
      (decision) => {
        // A connection refused for renegotiation is being closed with its own reason.
        if (subject.refused) return;
        if (!decision.allow || socket.destroyed) {
          // The engine destroys a denied connection; a missed case must not go through either.
          if (!socket.destroyed) socket.destroy();
          return;
        }
        subject.rememberVerifiedChain();
        // A throwing listener surfaces as it would from node's own emit, not as a rejection.
        process.nextTick(() => {
          if (!socket.destroyed && !subject.refused) Reflect.apply(emit, target, ['secureConnection', ...args]);
        });
      },
      () => socket.destroy(),
    );
  };
  const forward = (event: DecisionEvent, socket: tls.TLSSocket): boolean => server.emit('decision', event, socket);
  const warn = (warning: Error): void => emitWarning(server, warning);
  server.emit = gatedEmit as typeof server.emit;
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
      // Connections already admitted or pending keep their gate; new ones pass through untouched.
      attached = false;
      if (server.emit === gatedEmit) {
        if (Object.prototype.hasOwnProperty.call(server, 'emit') && emit === Object.getPrototypeOf(server).emit) delete (server as { emit?: unknown }).emit;
        else server.emit = emit;
      }
      authorizer.removeListener('decision', forward);
      authorizer.removeListener('warning', warn);
      authorizer.close();
    },
  };
}
