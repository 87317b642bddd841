/**
 * What the library tells observers besides its events: `node:diagnostics_channel` messages (the way
 * APM tools subscribe), the optional `logger`, and OpenTelemetry spans around fresh
 * re-authentications. Each costs nothing unless someone subscribed, passed a logger or registered a
 * tracer; none of them can change a decision (a throwing logger or tracer is ignored).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { errorFields, log, logs, type Logger, type LogLevel } from '../common/logger.js';
import { ATTR, endSpan, SPAN_REAUTHENTICATE, startSpan } from '../common/otel.js';
import type { Trigger } from '../common/types.js';
import type { RevocationMode, SecureContext } from '../tls/context.js';
import type { AuditEvent, DecisionEvent } from './audit-event.js';

/** The diagnostics channel names (`reauthentication` is a TracingChannel: `tracing:<name>:start` …). */
export const channels = Object.freeze({
  decision: 'continuous-tls:decision',
  reauthentication: 'continuous-tls:reauthentication',
  trustChange: 'continuous-tls:trust-change',
} as const);

/** Which part of the library decided: a createServer()/connect() socket, an attach()ed one, or a request. */
export type Tier = 'owned' | 'attached' | 'request';

/** A message of `continuous-tls:decision`: every concluded decision. */
export interface DecisionMessage {
  tier: Tier;
  /** The audit event: a DecisionEvent for connections, an AuditEvent for requests. */
  event: AuditEvent | DecisionEvent;
  /** The connection decided (connection tiers). */
  socket?: object;
  /** The IncomingMessage decided (authorizeRequest). */
  request?: object;
}

/** The context of `continuous-tls:reauthentication` (a TracingChannel): a fresh certificate request. */
export interface ReauthenticationMessage {
  tier: Tier;
  trigger: Trigger;
  socket: object;
  /** ms the peer has to answer. */
  timeout: number;
  /** Set by the TracingChannel when the request failed (its asyncEnd and error messages). */
  error?: unknown;
}

/** A message of `continuous-tls:trust-change`: the CAs, CRLs or revocation mode of a context changed. */
export interface TrustChangeMessage {
  tier: Tier;
  trust: SecureContext;
  /** `trust.trustGeneration` after the change. */
  generation: number;
  revocation: RevocationMode;
}

const decisionChannel = diagnosticsChannel.channel(channels.decision);
const trustChangeChannel = diagnosticsChannel.channel(channels.trustChange);
const reauthenticationChannel = diagnosticsChannel.tracingChannel<unknown, ReauthenticationMessage>(
  channels.reauthentication,
);

/** The level a decision is logged at: allows at debug, denials at info, a failed policy at warn. */
function decisionLevel(outcome: 'allow' | 'deny', reason: string): LogLevel {
  if (outcome === 'allow') return 'debug';
  return reason === 'policy-error' || reason === 'policy-timeout' ? 'warn' : 'info';
}

/** One owner's observers: the channels, and its logger if it was given one. */
export class Observer {
  readonly #logger: Logger | undefined;

  constructor(logger: Logger | undefined) {
    this.#logger = logger;
  }

  /** Whether anyone would read the audit event of this decision (so that it is worth building). */
  wantsDecision(allow: boolean, reason: string): boolean {
    if (decisionChannel.hasSubscribers) return true;
    return this.#logger !== undefined && logs(this.#logger, decisionLevel(allow ? 'allow' : 'deny', reason));
  }

  decision(tier: Tier, event: AuditEvent, carrier: { socket?: object; request?: object }): void {
    if (decisionChannel.hasSubscribers) decisionChannel.publish({ tier, event, ...carrier } satisfies DecisionMessage);
    if (this.#logger === undefined) return;
    const level = decisionLevel(event.outcome, event.reason);
    if (logs(this.#logger, level)) log(this.#logger, level, { tier, ...event }, `continuous-tls: ${event.outcome}`);
  }

  /** A condition that does not deny but needs an operator (a stale CRL …). */
  warning(tier: Tier, warning: Error): void {
    if (this.#logger !== undefined) log(this.#logger, 'warn', { tier, err: errorFields(warning) }, warning.message);
  }

  /** Something failed inside the library itself (the decision concerned fails closed). */
  error(tier: Tier, error: unknown, msg: string): void {
    if (this.#logger !== undefined) log(this.#logger, 'error', { tier, err: errorFields(error) }, msg);
  }

  trustChange(tier: Tier, trust: SecureContext): void {
    const logged = this.#logger !== undefined && logs(this.#logger, 'info');
    if (!trustChangeChannel.hasSubscribers && !logged) return;
    const message: TrustChangeMessage = {
      tier,
      trust,
      generation: trust.trustGeneration,
      revocation: trust.revocation,
    };
    if (trustChangeChannel.hasSubscribers) trustChangeChannel.publish(message);
    if (logged) {
      log(
        this.#logger!,
        'info',
        { tier, generation: message.generation, revocation: message.revocation },
        'continuous-tls: trust changed, re-deciding connections',
      );
    }
  }

  /** Runs one fresh certificate request inside the reauthentication TracingChannel and a span. */
  async reauthenticate(
    tier: Tier,
    trigger: Trigger,
    socket: object,
    timeout: number,
    request: () => Promise<void>,
  ): Promise<void> {
    const span = startSpan(SPAN_REAUTHENTICATE, () => ({ [ATTR.tier]: tier, [ATTR.trigger]: trigger }));
    const run = reauthenticationChannel.hasSubscribers
      ? (): Promise<void> =>
          reauthenticationChannel.tracePromise(request, { tier, trigger, socket, timeout } as ReauthenticationMessage)
      : request;
    if (span === undefined) return run();
    try {
      await run();
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      endSpan(
        span,
        { [ATTR.outcome]: 'failed', ...(typeof code === 'string' ? { 'error.type': code } : {}) },
        error as Error,
      );
      throw error;
    }
    endSpan(span, { [ATTR.outcome]: 'answered' });
  }
}
