/**
 * OpenTelemetry spans, when the application has `@opentelemetry/api` (an optional peer). The API is
 * required once, lazily, behind a guard: without it every call here is a cheap no-op. Tracing never
 * changes a decision: whatever a tracer or span throws is swallowed here.
 */

/** The span names and attribute keys this library uses (docs/api.md, "OpenTelemetry"). */
export const SPAN_POLICY = 'continuous-tls.policy';
export const SPAN_REAUTHENTICATE = 'continuous-tls.reauthenticate';
export const ATTR = Object.freeze({
  tier: 'continuous_tls.tier',
  trigger: 'continuous_tls.trigger',
  outcome: 'continuous_tls.outcome',
  reason: 'continuous_tls.reason',
  source: 'continuous_tls.source',
  policy: 'continuous_tls.policy',
} as const);

/** Span attribute values this library sets (no secrets: no tokens, keys or certificates). */
export type SpanAttributes = Record<string, string | number | boolean>;

/** The part of an OpenTelemetry Span used here. */
interface SpanLike {
  setAttributes(attributes: SpanAttributes): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  isRecording(): boolean;
  end(): void;
}

/** The part of `@opentelemetry/api` used here. */
interface OtelApi {
  trace: { getTracer(name: string): { startSpan(name: string, options: { attributes: SpanAttributes }): SpanLike } };
}

/** SpanStatusCode.ERROR of the API (a stable enum value of the specification). */
const STATUS_ERROR = 2;

/** undefined: not looked for yet; null: the application does not have it. */
let api: OtelApi | null | undefined;

function otel(): OtelApi | null {
  if (api === undefined) {
    try {
      api = require('@opentelemetry/api') as OtelApi;
    } catch {
      api = null;
    }
  }
  return api;
}

/** A started span, or undefined when nothing records it (no API, no SDK, or a tracer that threw). */
export type Span = SpanLike | undefined;

/** Starts a span; `attributes` is only called when there is a tracer to give them to. */
export function startSpan(name: string, attributes: () => SpanAttributes): Span {
  const a = otel();
  if (a === null) return undefined;
  try {
    const span = a.trace.getTracer('continuous-tls').startSpan(name, { attributes: attributes() });
    if (span.isRecording()) return span;
    span.end();
  } catch {
    // A broken tracer costs its spans, never a decision.
  }
  return undefined;
}

/** Ends a span with its outcome attributes; an error marks the span's status. */
export function endSpan(span: Span, attributes: SpanAttributes, error?: Error): void {
  if (span === undefined) return;
  try {
    span.setAttributes(attributes);
    if (error !== undefined) span.setStatus({ code: STATUS_ERROR, message: error.message });
  } catch {
    // As in startSpan: the span is lost, the decision is not.
  }
  try {
    span.end();
  } catch {
    // Nothing more to do for a span that cannot end.
  }
}
