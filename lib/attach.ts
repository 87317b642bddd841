/**
 * attach(server, options): continuous authorization for an unmodified
 * node:tls / node:https server. node:tls offers no post-handshake auth, so
 * this tier revalidates the chain a connection already presented.
 */
import * as tls from 'node:tls';
import { Duplex } from 'node:stream';
import { emitWarning, invalidOption } from './common/errors.js';
import { checkObject } from './common/validate.js';
import { SecureContext, type RevocationMode } from './tls/context.js';
import { Authorizer, type AuthorizerEvents, type ReauthorizeSchedule } from './authz/authorizer.js';
import { AttachedSubject } from './authz/attached-subject.js';
import { presentedChains } from './authz/presented-chains.js';
import { registerAuthorizer } from './authz/owner.js';
import { inspectConnections, type InspectReport } from './authz/inspect.js';
import { certificatesFromPem, type PemInput } from './tls/pem.js';
import { probeNodePeerChain } from './tls/peer-chain-probe.js';
import type { Decision, Policy } from './common/types.js';
import type { Logger } from './common/logger.js';
import { kGuardHost, type GuardHost } from './authz/guard.js';
import { engineGuardHost } from './authz/guard-host.js';

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
  /**
   * The CAs of each server name whose SNICallback context trusts other CAs than `ca` (tenants):
   * a connection for a listed name is verified with that name's CAs, at the handshake, on
   * resumption and at every re-check; other names use `ca`. CRLs and the revocation mode are
   * shared by all. Names match case-insensitively.
   */
  sni?: Readonly<Record<string, { ca: PemInput }>>;
  /** A pino-compatible logger for decisions, warnings and errors (docs/api.md, Observability). */
  logger?: Logger;
}

export interface Attachment {
  readonly authorizer: Authorizer;
  /** What a fleet drives when it watches this attachment (fleet.watch(attachment)). */
  readonly [kGuardHost]: GuardHost;
  setCa(ca: PemInput): Promise<Decision[]>;
  /** Replace the configured intermediates; every connection is re-decided with them. */
  setIntermediates(intermediates: PemInput | undefined): Promise<Decision[]>;
  setCrl(crl: PemInput | undefined): Promise<Decision[]>;
  setPolicy(policy: Policy | undefined): Promise<Decision[]>;
  /** Replace the CAs of one server name given in `sni`; its connections are re-decided. */
  setSniCa(servername: string, ca: PemInput): Promise<Decision[]>;
  connections(): Array<{ socket: tls.TLSSocket; decision: Decision | null }>;
  /** Every live connection as JSON-ready data: peer, decision, expiry, next re-check. */
  inspect(): InspectReport;
  /** Stop tracking: no more re-checks; allowed connections stay open, held ones close (ERR_CTLS_DETACHED). */
  detach(): void;
}

/** Server events that hand a request (HTTP/1) or a stream (HTTP/2) to the application. */
const REQUEST_EVENTS = new Set(['request', 'checkContinue', 'checkExpectation', 'upgrade', 'connect', 'stream']);

/**
 * Each attached connection names itself under this key. node's HTTP/2 server announces a session
 * with 'session', whose .socket is a proxy that reads through to the connection: the key read
 * through it finds the connection, whenever and however (an app's own emit wrapper may defer it)
 * the event arrives.
 */
const kAttachedSocket = Symbol('continuous-tls.attachedSocket');

/** The attached connection an HTTP/2 session runs on, read through its socket proxy. */
function connectionOfSession(session: object): object | undefined {
  try {
    const socket = (session as { socket?: Record<symbol, unknown> }).socket?.[kAttachedSocket];
    return socket !== null && typeof socket === 'object' ? socket : undefined;
  } catch {
    // Not a session of a live connection (an unbound proxy, or what an app emitted).
    return undefined;
  }
}

/**
 * Emit wrappers of attachments that are done (detached, nothing held), each to the emit beneath it:
 * a wrapper that was not on top when it was done is skipped when the one above it restores.
 */
const retiredEmits = new WeakMap<object, (event: string | symbol, ...args: unknown[]) => boolean>();

/**
 * The attached connection an HTTP/1 request (its socket) or an HTTP/2 stream (its session) came
 * on. A session not linked yet (its 'session' event has not passed this attachment: an app's emit
 * wrapper may delay or drop it) is linked here, at its first stream, through its socket.
 */
function subjectOfRequest(value: unknown, subjects: WeakMap<object, AttachedSubject>): AttachedSubject | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const carrier = value as { socket?: unknown; session?: unknown; stream?: { session?: unknown } };
  const socket = carrier.socket;
  if (socket !== null && typeof socket === 'object') {
    const subject = subjects.get(socket);
    if (subject !== undefined) return subject;
  }
  // HTTP/2: stream.session, or the compatibility request's stream.session.
  for (const session of [carrier.session, carrier.stream?.session]) {
    if (session === null || typeof session !== 'object') continue;
    let subject = subjects.get(session);
    if (subject === undefined) {
      const connection = connectionOfSession(session);
      subject = connection === undefined ? undefined : subjects.get(connection);
      if (subject !== undefined) subjects.set(session, subject);
    }
    if (subject !== undefined) return subject;
  }
  return undefined;
}

/** The HTTP/2 stream a 'stream' event (the stream) or a compatibility 'request' (req.stream) carries. */
function http2StreamOf(event: string, value: unknown): Duplex | undefined {
  const stream = event === 'stream' ? value : (value as { stream?: unknown }).stream;
  return stream instanceof Duplex && (stream as { session?: unknown }).session !== undefined ? stream : undefined;
}

/** Whether an admitted connection goes on to the app after its first decision; a denied one is cut. */
function allowed(socket: tls.TLSSocket, subject: AttachedSubject, decision: Decision): boolean {
  // A connection refused for renegotiation is being closed with its own reason.
  if (subject.refused) return false;
  if (!decision.allow || socket.destroyed) {
    // The engine destroys a denied connection; a missed case must not go through either.
    if (!socket.destroyed) socket.destroy();
    return false;
  }
  subject.rememberVerifiedChain();
  return true;
}

function sniTrust(
  sni: AttachOptions['sni'],
  shared: { crl?: PemInput; revocation?: RevocationMode },
): Map<string, SecureContext> {
  const byName = new Map<string, SecureContext>();
  for (const [name, entry] of Object.entries(checkObject('sni', sni) ?? {})) {
    if (name === '' || entry === null || typeof entry !== 'object' || entry.ca === undefined) {
      throw invalidOption(`sni.${name}`, '{ ca } with the PEM CA(s) of that server name', entry);
    }
    byName.set(name.toLowerCase(), new SecureContext({ ca: entry.ca, ...shared }, true));
  }
  return byName;
}

/**
 * Adds interval, expiry and revocation re-checks to an existing node:tls or
 * node:https server. No listener of the server sees a connection before its
 * first decision allows it; afterwards its data is held while a decision is
 * pending or lapsed, and it is destroyed when denied.
 */
export function attach(server: tls.Server, options: AttachOptions): Attachment {
  if (!(server instanceof tls.Server)) throw invalidOption('server', 'a node:tls or node:https Server', server);
  if (checkObject('options', options) === undefined) throw invalidOption('options', 'an object', options);
  if (options.ca === undefined)
    throw invalidOption('ca', 'the PEM CA(s) to revalidate peer chains against', options.ca);
  let intermediates = certificatesFromPem('intermediates', options.intermediates);
  const shared = {
    ...(options.crl === undefined ? {} : { crl: options.crl }),
    ...(options.revocation === undefined ? {} : { revocation: options.revocation }),
  };
  const trust = new SecureContext({ ca: options.ca, ...shared }, true);
  // Until it answers, chains are read the way that is safe on every Node.
  void probeNodePeerChain();
  const trustByName = sniTrust(options.sni, shared);
  // Node resumes a session under any name its ticket keys accept, without verifying: the name the
  // connection is served under now decides whose CAs judge it.
  const trustFor = (socket: tls.TLSSocket): SecureContext => {
    const name = (socket as tls.TLSSocket & { servername?: string | false }).servername;
    return (typeof name === 'string' ? trustByName.get(name.toLowerCase()) : undefined) ?? trust;
  };
  const authorizer = new Authorizer({
    trust,
    ...(options.policy === undefined ? {} : { policy: options.policy }),
    ...(options.reauthorize === undefined ? {} : { reauthorize: options.reauthorize }),
    ...(options.policyTimeout === undefined ? {} : { policyTimeout: options.policyTimeout }),
    requireVerified: true,
    requireCertificate: options.requireCertificate ?? true,
    auditWanted: () => server.listenerCount('decision') > 0,
    tier: 'attached',
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  const chains = presentedChains();
  // node emits 'secureConnection' once a handshake is done, and its listeners (the app's, and the
  // https / http2 servers' own, which hand the TLS handle to a native parser) start reading at
  // once. The emission itself is held back until the first decision allows: a denied connection
  // is never seen by any listener, whenever it was added. Wrapping emit rather than moving the
  // listeners also covers listeners added after attach().
  const emit = server.emit;
  let attached = true;
  const subjects = new WeakMap<object, AttachedSubject>();
  // Connections detach() let go while held (a decision still in flight): until each is released
  // or closed, a request node parses for it waits as before, so the wrapper stays on emit.
  let lingering = 0;
  const gatedEmit = function (this: tls.Server, event: string | symbol, ...args: unknown[]): boolean {
    const first = args[0];
    if (attached) {
      if (event === 'secureConnection' && first instanceof tls.TLSSocket) return admit(this, first, args);
      if (event === 'session' && first !== null && typeof first === 'object') {
        const connection = connectionOfSession(first);
        const subject = connection === undefined ? undefined : subjects.get(connection);
        if (subject !== undefined) subjects.set(first, subject);
        return Reflect.apply(emit, this, [event, ...args]) as boolean;
      }
    }
    if ((attached || lingering > 0) && typeof event === 'string' && REQUEST_EVENTS.has(event))
      return deliverRequest(this, event, args);
    return Reflect.apply(emit, this, [event, ...args]) as boolean;
  };
  // node's HTTP parsers read the TLS handle natively: a request parsed from bytes decrypted just
  // before a hold began must not reach a handler while the decision is pending.
  const deliverRequest = (target: tls.Server, event: string, args: unknown[]): boolean => {
    const first = args[0];
    const subject = subjectOfRequest(first, subjects);
    if (subject === undefined) return Reflect.apply(emit, target, [event, ...args]) as boolean;
    // An HTTP/2 stream (or the compatibility request's) is held with its connection from now on.
    const stream = http2StreamOf(event, first);
    if (stream !== undefined) subject.trackStream(stream);
    if (!subject.held) return Reflect.apply(emit, target, [event, ...args]) as boolean;
    // Until it is handed over no app listener is on the stream: if the connection is cut
    // meanwhile, node destroys the stream with the reason, whose 'error' must not go unheard.
    const unheard = (): void => {};
    stream?.on('error', unheard);
    subject.whenOpen(() => {
      stream?.off('error', unheard);
      Reflect.apply(emit, target, [event, ...args]);
    });
    return target.listenerCount(event) > 0;
  };
  /**
   * Puts back the emit beneath ours once nothing needs ours. Under a wrapper added since (the app's,
   * or a later attach()'s) ours stays and calls through; a later attachment that restores skips it.
   */
  const restoreEmit = (): void => {
    let below = emit;
    for (let next = retiredEmits.get(below); next !== undefined; next = retiredEmits.get(below)) below = next;
    retiredEmits.set(gatedEmit, below);
    if (server.emit !== gatedEmit) return;
    if (Object.prototype.hasOwnProperty.call(server, 'emit') && below === Object.getPrototypeOf(server).emit)
      delete (server as { emit?: unknown }).emit;
    else server.emit = below;
  };
  /** Keeps deferring `subject`'s requests after detach() until it is released or closed. */
  const linger = (subject: AttachedSubject): void => {
    let done = false;
    const settle = (): void => {
      if (done) return;
      done = true;
      subject.socket.off('close', settle);
      if (--lingering === 0) restoreEmit();
    };
    lingering += 1;
    subject.socket.once('close', settle);
    subject.onceReleased(settle);
  };
  const admit = (target: tls.Server, socket: tls.TLSSocket, args: unknown[]): boolean => {
    registerAuthorizer(socket, authorizer);
    const subject = new AttachedSubject(socket, true, {
      trust: trustFor(socket),
      intermediates: () => intermediates,
      chains,
    });
    subjects.set(socket, subject);
    (socket as tls.TLSSocket & { [kAttachedSocket]?: tls.TLSSocket })[kAttachedSocket] = socket;
    const hand = (): boolean => Reflect.apply(emit, target, ['secureConnection', ...args]) as boolean;
    const decided = authorizer.admitNow(subject);
    if (!(decided instanceof Promise)) {
      // Decided in this turn (no policy): the connection goes on now, as from node's own emit.
      return allowed(socket, subject, decided) ? hand() : target.listenerCount('secureConnection') > 0;
    }
    decided.then(
      (decision) => {
        if (!allowed(socket, subject, decision)) return;
        // A throwing listener surfaces as it would from node's own emit, not as a rejection.
        process.nextTick(() => {
          if (!socket.destroyed && !subject.refused) hand();
        });
      },
      () => socket.destroy(),
    );
    return target.listenerCount('secureConnection') > 0;
  };
  const forward: AuthorizerEvents['decision'] = (event, socket) => server.emit('decision', event, socket);
  const warn = (warning: Error): void => emitWarning(server, warning);
  server.emit = gatedEmit as typeof server.emit;
  authorizer.on('decision', forward);
  authorizer.on('warning', warn);
  return {
    authorizer,
    [kGuardHost]: engineGuardHost('attachment', authorizer, () => [trust, ...trustByName.values()]),
    setCa(ca) {
      trust.setCa(ca);
      return authorizer.trustChanged();
    },
    setIntermediates(pem) {
      intermediates = certificatesFromPem('intermediates', pem);
      // The contexts are unchanged, but chains complete differently: re-decide everyone.
      return authorizer.recheckAll('revocation');
    },
    async setCrl(crl) {
      const contexts = [trust, ...trustByName.values()];
      for (const context of contexts) context.setCrl(crl);
      const decided = await Promise.all(contexts.map((context) => authorizer.trustChanged(context)));
      return decided.flat();
    },
    setSniCa(servername, ca) {
      const context = typeof servername === 'string' ? trustByName.get(servername.toLowerCase()) : undefined;
      if (context === undefined) throw invalidOption('servername', 'a name given in the `sni` option', servername);
      context.setCa(ca);
      return authorizer.trustChanged(context);
    },
    setPolicy(policy) {
      return authorizer.setPolicy(policy);
    },
    inspect: () => inspectConnections(authorizer),
    connections() {
      return authorizer.connections() as Array<{ socket: tls.TLSSocket; decision: Decision | null }>;
    },
    detach() {
      // Connections already admitted or pending keep their gate; new ones pass through untouched.
      attached = false;
      const held = authorizer
        .connections()
        .map(({ socket }) => subjects.get(socket))
        .filter((subject): subject is AttachedSubject => subject?.held === true);
      authorizer.removeListener('decision', forward);
      authorizer.removeListener('warning', warn);
      authorizer.close();
      // close() cut those held with nothing in flight; the rest wait for their last decision.
      for (const subject of held) if (!subject.socket.destroyed && subject.held) linger(subject);
      if (lingering === 0) restoreEmit();
    },
  };
}
