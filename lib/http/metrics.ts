/**
 * Prometheus metrics of authorization decisions (prom-client). The input is the same record the
 * engine emits as its 'decision' audit event, so one listener feeds both the audit log and metrics:
 *
 *   engine.on('decision', (e) => metrics.recordDecision(e));
 *   app.get('/metrics', async (req, res) => res.type(metrics.contentType).send(await metrics.metricsText()));
 *
 * Labels stay low-cardinality on purpose: outcome, source and trigger. Reasons, subjects and
 * serials belong in the audit log, not in label values. The gauges (live connections, decisions in
 * flight) are read at scrape time from what observe() was given, labelled by tier only.
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type * as PromClient from 'prom-client';
import { invalidOption } from '../common/errors.js';
import { checkObject, checkString } from '../common/validate.js';
import type { AuditEvent } from '../authz/audit-event.js';
import type { Authorizer } from '../authz/authorizer.js';
import type { RequestAuthorizer } from './authorize-request.js';

/** What observe() reads: a Server or an Attachment (its `authorizer`), an Authorizer, or a RequestAuthorizer. */
export type ObservedSource = Authorizer | { readonly authorizer: Authorizer } | RequestAuthorizer;

/** How one observed source is read at scrape time. */
interface Reading {
  tier: 'owned' | 'attached' | 'request';
  connections?: () => number;
  pending: () => number;
}

/** Duck-typed, not instanceof: the http entry point loads no native code, and so no Authorizer class. */
function isEngine(value: unknown): value is Authorizer {
  const engine = value as Partial<Authorizer> | null | undefined;
  return (
    (engine?.tier === 'owned' || engine?.tier === 'attached') &&
    typeof engine.connectionCount === 'number' &&
    typeof engine.pendingDecisions === 'number'
  );
}

function readingOf(source: ObservedSource): Reading {
  const engine = isEngine(source) ? source : (source as { authorizer?: unknown } | null | undefined)?.authorizer;
  if (isEngine(engine)) {
    return { tier: engine.tier, connections: () => engine.connectionCount, pending: () => engine.pendingDecisions };
  }
  const requests = source as Partial<RequestAuthorizer> | null | undefined;
  if (typeof requests?.authorize === 'function' && typeof requests.pendingDecisions === 'number') {
    return { tier: 'request', pending: () => requests.pendingDecisions ?? 0 };
  }
  throw invalidOption('source', 'a Server, an Attachment, an Authorizer or a RequestAuthorizer', source);
}

export interface DecisionMetricsOptions {
  /** Where the metrics register. Default: a new Registry (never prom-client's global one). */
  registry?: Registry;
  /** Metric name prefix. Default 'ctls_'. */
  prefix?: string;
  /** Histogram buckets in seconds. Default from 10 µs (a cache hit) to 1 s (a slow remote PDP). */
  buckets?: number[];
}

/** prom-client is loaded with the first DecisionMetrics, not when the library is imported. */
let prom: typeof PromClient | undefined;

const DEFAULT_BUCKETS = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export class DecisionMetrics {
  readonly registry: Registry;
  readonly #decisions: Counter<'outcome' | 'source' | 'trigger'>;
  readonly #duration: Histogram<'outcome' | 'source' | 'trigger'>;
  readonly #observed = new Set<Reading>();

  constructor(options: DecisionMetricsOptions = {}) {
    const o = checkObject('options', options) ?? {};
    prom ??= require('prom-client') as typeof PromClient;
    const { Registry, Counter, Gauge, Histogram } = prom;
    const { registry = new Registry(), buckets = DEFAULT_BUCKETS } = o;
    const prefix = checkString('prefix', o.prefix) ?? 'ctls_';
    // Duck-typed: the app's registry may come from another copy of prom-client.
    if (
      registry === null ||
      typeof registry !== 'object' ||
      typeof registry.registerMetric !== 'function' ||
      typeof registry.metrics !== 'function'
    ) {
      throw invalidOption('registry', 'a prom-client Registry', registry);
    }
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix))
      throw invalidOption('prefix', 'a Prometheus metric name prefix', prefix);
    if (!Array.isArray(buckets) || !buckets.every((b) => typeof b === 'number' && b > 0))
      throw invalidOption('buckets', 'an array of positive numbers', buckets);
    this.registry = registry;
    const labelNames = ['outcome', 'source', 'trigger'] as const;
    this.#decisions = new Counter({
      name: `${prefix}decisions_total`,
      help: 'Authorization decisions, by outcome, source (engine or cache) and trigger.',
      labelNames,
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: `${prefix}decision_duration_seconds`,
      help: 'Time to reach an authorization decision.',
      labelNames,
      buckets,
      registers: [registry],
    });
    const observed = this.#observed;
    new Gauge({
      name: `${prefix}connections`,
      help: 'Live connections the engine tracks, by tier (owned, attached).',
      labelNames: ['tier'] as const,
      registers: [registry],
      collect(this: Gauge<'tier'>) {
        setByTier(this, observed, (reading) => reading.connections?.());
      },
    });
    new Gauge({
      name: `${prefix}pending_decisions`,
      help: 'Decisions in flight (waiting for a policy or a fresh certificate; requests being decided), by tier.',
      labelNames: ['tier'] as const,
      registers: [registry],
      collect(this: Gauge<'tier'>) {
        setByTier(this, observed, (reading) => reading.pending());
      },
    });
  }

  /**
   * Reports the live connections and pending decisions of `source` in the gauges, read at each scrape.
   * Returns the function that stops observing it.
   */
  observe(source: ObservedSource): () => void {
    const reading = readingOf(source);
    this.#observed.add(reading);
    return () => void this.#observed.delete(reading);
  }

  recordDecision(event: AuditEvent): void {
    const labels = { outcome: event.outcome, source: event.source, trigger: event.trigger };
    this.#decisions.inc(labels);
    if (Number.isFinite(event.durationMs) && event.durationMs >= 0)
      this.#duration.observe(labels, event.durationMs / 1000);
  }

  /** The Prometheus text exposition of this registry. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  /** The Content-Type to serve metricsText() with. */
  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Sums each tier's readings into the gauge; a tier observed at all shows, at 0 when idle. */
function setByTier(gauge: Gauge<'tier'>, observed: Set<Reading>, read: (reading: Reading) => number | undefined): void {
  const totals = new Map<string, number>();
  for (const reading of observed) {
    const value = read(reading);
    if (value !== undefined) totals.set(reading.tier, (totals.get(reading.tier) ?? 0) + value);
  }
  gauge.reset();
  for (const [tier, value] of totals) gauge.set({ tier }, value);
}

export function createDecisionMetrics(options?: DecisionMetricsOptions): DecisionMetrics {
  return new DecisionMetrics(options);
}
