/**
 * Cedar, embedded through @cedar-policy/cedar-wasm (loaded on first use, see wasm.ts); the sources
 * (text, file or directory) are read by sources.ts. This file is the CedarPolicy adapter itself: its
 * load, reload and watch cycle, the choice between its two engines and their answers share one state,
 * which is why it is longer than the other units.
 *
 * Two engines (option `engine`, the one in force is the `engine` getter):
 * - 'compiled' (the default when the set allows it): at every load each policy's JSON form (from
 *   cedar-wasm's policyToJson) is compiled into JS closures (compile.ts) and requests are
 *   decided in JS with Cedar's semantics: a call into cedar-wasm costs more than such a decision
 *   however small the request, because the call and its answer cross the wasm boundary as JSON.
 *   A set with templates, a schema, or a construct the compiler does not know (datetime, duration, an
 *   operator of a later Cedar) stays on cedar-wasm as a whole; a request the compiled engine cannot
 *   decide exactly (arithmetic past 2^53, an extension value it does not know) goes to cedar-wasm
 *   alone. The answers are the same either way (test/cedar-compiled.test.ts and
 *   test/property/cedar-differential.test.ts check it).
 * - 'wasm': every decision is one `statefulIsAuthorized` call on the set pre-parsed into the wasm
 *   module's own store.
 * Either way cedar-wasm parses and validates the policies, and the pre-parsed set is kept loaded.
 * Entities are checked once and kept as a ready array (cedar-wasm has no pre-parsed entity store, so
 * on the wasm engine they still cross per call: keep them few, put per-request facts in the context).
 * An answer lists its determining and erroring policies in policy-set order on both engines.
 *
 * Default mapping (override any part with `mapping`), see policy/facts.ts:
 *   principal = User::"<certificate subject CN, else token sub, else 'anonymous'>"
 *   action    = Action::"<input.action, else HTTP method, else trigger>"
 *   resource  = Resource::"<input.resource, else request path, else 'connection'>"
 *   context   = contextFacts(input): app signals plus trigger, verified, reauthCount, ageMs,
 *               protocol, remoteAddress, servername, method, path, certificate {…}, token {…},
 *               signals {…} (an identity provider's, through a fleet);
 *               converted by toCedarRecord: a value Cedar cannot hold exactly (null, a
 *               fraction, an integer beyond 2^53 …) refuses the request (ERR_CTLS_CEDAR_CONTEXT).
 *
 * Hot reload (`file` or `dir` with `watch: true`): the directory is watched (a watch on the file
 * itself would be lost when an editor or deploy tool replaces it by rename). A change is debounced,
 * the sources are re-read and compiled into the spare one of two pre-parsed slots, and only when all
 * of it is valid does one assignment make it current: a decision uses either the old or the new set,
 * never a mix. An invalid change keeps the old set and emits 'error' (ERR_CTLS_CEDAR, with
 * `diagnostics`). Write files by rename for a clean swap; an in-place write is seen as a partial file
 * only if the write straddles the debounce window.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import { ContinuousTlsError, ctlsError, invalidOption } from '../../common/errors.js';
import {
  checkBoolean,
  checkDuration,
  checkFunction,
  checkObject,
  checkOneOf,
  checkString,
} from '../../common/validate.js';
import type { AuthorizationInput, PolicyAdapter } from '../../common/types.js';
import { actionName, contextFacts, resourceId, subjectId } from '../facts.js';
import {
  cedarError,
  diagnosticsOf,
  toCedarRecord,
  type CedarError,
  type ConversionOptions,
  type FractionMode,
} from './values.js';
import { readSources, isSourceFile, splitPolicies, type Sources } from './sources.js';
import { cedar } from './wasm.js';
import {
  compileForEngine,
  compiledContext,
  decideCompiled,
  type CedarEngine,
  type CedarEngineOption,
} from './engine.js';
import type { CompiledPolicySet } from './compile.js';
import type { CedarRecord } from './runtime.js';
import { factsReadBy } from './facts.js';
import { evaluatesLazily } from '../evaluate.js';
import { handedToApp } from '../cache-key.js';
import { timerDelay } from '../../common/timers.js';

export type { CedarDiagnostic, FractionMode, CedarContextError, CedarError } from './values.js';
export type { CedarEngine, CedarEngineOption } from './engine.js';
export { toCedarValue, cedarDecimal } from './values.js';

export interface CedarEntityUid {
  type: string;
  id: string;
}

export interface CedarMapping {
  principal?(input: AuthorizationInput): CedarEntityUid;
  action?(input: AuthorizationInput): CedarEntityUid;
  resource?(input: AuthorizationInput): CedarEntityUid;
  /** Plain values; converted with toCedarValue. */
  context?(input: AuthorizationInput): Record<string, unknown>;
}

export interface CedarPolicyOptions {
  /** Cedar policy text. Exactly one of policies, file, dir. */
  policies?: string;
  /** A file of Cedar policies. */
  file?: string;
  /**
   * A directory: every `*.cedar` file in it (in name order), plus optional `entities.json` and a
   * schema in `schema.cedarschema` (Cedar syntax) or `schema.cedarschema.json` (JSON).
   */
  dir?: string;
  /** Reload file or dir when it changes. Default false. */
  watch?: boolean;
  /** Cedar schema (text or JSON). Policies are validated against it at every load. */
  schema?: CedarWasm.Schema;
  /** Entities (Cedar JSON format). */
  entities?: CedarWasm.EntityJson[];
  /** Check each request against the schema too (strict: undeclared context attributes fail). */
  validateRequest?: boolean;
  mapping?: CedarMapping;
  /** Quiet time after the last change event before reloading. Default 25 ms. */
  debounceMs?: number;
  /** Name used in reasons and audit events. Default 'cedar'. */
  name?: string;
  /**
   * 'auto' (default): decide in compiled JS when the loaded set allows it, else in cedar-wasm.
   * 'wasm': always cedar-wasm (for comparison, or to rule the compiled engine out).
   */
  engine?: CedarEngineOption;
  /**
   * A JS number with a fractional part in the context: 'deny' (default) refuses the request with
   * ERR_CTLS_CEDAR_CONTEXT; 'decimal' turns an exact decimal of 1 to 4 fractional digits into a
   * Cedar decimal (then the same attribute is a Long or a decimal depending on its value: a policy
   * comparing it one way errors on the other, and an erroring `forbid` is skipped). Prefer building
   * decimals with cedarDecimal().
   */
  fractions?: FractionMode;
}

/**
 * A context converted once (prepareContext) for several decisions, e.g. the shared context of an
 * AuthZEN batch.
 */
export class PreparedCedarContext {
  /** undefined until the compiled engine first needs it; null when only cedar-wasm can hold it. */
  #compiled: CedarRecord | null | undefined;
  constructor(readonly json: Record<string, CedarWasm.CedarValueJson>) {}

  get compiled(): CedarRecord | undefined {
    if (this.#compiled === undefined) this.#compiled = compiledContext(this.json) ?? null;
    return this.#compiled ?? undefined;
  }
}

/** A Cedar request with plain-JS context (what the PDP endpoint builds from an AuthZEN request). */
export interface CedarRequest {
  principal: CedarEntityUid;
  action: CedarEntityUid;
  resource: CedarEntityUid;
  /** Plain values (converted here, see values.ts) or a context from prepareContext(). */
  context: Record<string, unknown> | PreparedCedarContext;
}

export interface CedarAnswer {
  allow: boolean;
  /** The policies that determined the decision: the permits for an allow, the forbids for a deny. */
  policies: string[];
  /** Policies that errored during evaluation (Cedar skips them). */
  errors: string[];
}

export interface CedarPolicyEvents {
  /** A change was loaded: its version number and the sources it came from. */
  reload: [info: { version: number; sources: string[] }];
  /** A load failed; the previous policies stay in force. */
  error: [err: CedarError];
}

interface Loaded {
  psetId: string;
  schemaName?: string;
  entities: CedarWasm.EntityJson[];
  fingerprint: string;
  policyIds: string[];
  /** Position of each policy id in the set: answers list policies in this order. */
  order: Map<string, number>;
  /** The compiled engine for this set; undefined when it stays on cedar-wasm. */
  compiled?: CompiledPolicySet;
  /** What factsRead() answers for this set. */
  factsRead: readonly string[] | null;
}

let instances = 0;

export class CedarPolicy extends EventEmitter<CedarPolicyEvents> implements PolicyAdapter {
  readonly name: string;
  readonly #options: CedarPolicyOptions;
  readonly #slotPrefix = `continuous-tls-${++instances}`;
  readonly #listeners = new Set<() => void>();
  #loaded: Loaded;
  #version = 1;
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: CedarPolicyOptions) {
    super();
    checkOptions(options);
    this.#options = options;
    this.name = options.name ?? 'cedar';
    // Construction fails loudly: a server must not start with policies it cannot read.
    try {
      this.#loaded = this.#compile(readSources(this.#options), 0);
    } catch (err) {
      if (err instanceof ContinuousTlsError) throw err;
      throw cedarError(`Cedar policies could not be read: ${(err as Error).message}`, [], err);
    }
    if (options.watch) this.#startWatch();
  }

  /** Increments with every successful load. */
  get version(): number {
    return this.#version;
  }

  /** The engine deciding requests for the current set: 'compiled' or 'wasm' (see the module comment). */
  get engine(): CedarEngine {
    return this.#loaded.compiled !== undefined ? 'compiled' : 'wasm';
  }

  /**
   * The input paths the loaded policies can read through the default mapping (cedar/facts.ts), e.g.
   * ['context.tenant', 'peer.certificate.subject', 'request.method', 'request.path', 'token.sub']:
   * two inputs equal on all of them get the same answer from this set (while it is loaded; a reload
   * recomputes it, and onChange fires). null when that cannot be bounded: a policy reads the whole
   * context, a schema or templates are loaded, or `mapping` is set (its functions can read anything).
   * Not covered: a value that cannot become a Cedar value (ERR_CTLS_CEDAR_CONTEXT) anywhere in the
   * context refuses a request even where no policy reads it.
   */
  factsRead(): string[] | null {
    const facts = this.#loaded.factsRead;
    return facts === null ? null : [...facts];
  }

  /** Ids of the loaded policies: `@id("…")` when annotated, else `<file>#<n>` / `policy<n>`. */
  get policyIds(): readonly string[] {
    return this.#loaded.policyIds;
  }

  evaluate(input: AuthorizationInput): { allow: boolean; reason: string } {
    const m = this.#options.mapping;
    // The app's mapping hooks get the input, and may change it.
    if (m !== undefined) handedToApp(input);
    const answer = this.authorize({
      principal: m?.principal ? m.principal(input) : { type: 'User', id: subjectId(input) },
      action: m?.action ? m.action(input) : { type: 'Action', id: actionName(input) },
      resource: m?.resource ? m.resource(input) : { type: 'Resource', id: resourceId(input) },
      context: m?.context ? m.context(input) : contextFacts(input),
    });
    return { allow: answer.allow, reason: reasonOf(answer) };
  }

  /**
   * Converts a plain context for authorize(); throws ERR_CTLS_CEDAR_CONTEXT (with `path`) when it
   * holds a value Cedar cannot represent exactly.
   */
  prepareContext(context: unknown, options: Omit<ConversionOptions, 'fractions'> = {}): PreparedCedarContext {
    return new PreparedCedarContext(
      toCedarRecord(context, { ...options, fractions: this.#options.fractions ?? 'deny' }),
    );
  }

  /**
   * One Cedar decision on an explicit request. Throws ERR_CTLS_CEDAR_CONTEXT when the request
   * cannot reach Cedar unchanged or Cedar refuses it, ERR_CTLS_CEDAR when the policy is closed.
   */
  authorize(request: CedarRequest): CedarAnswer {
    if (this.#closed) throw ctlsError('ERR_CTLS_CEDAR', `Cedar policy "${this.name}" is closed`);
    const loaded = this.#loaded;
    const prepared =
      request.context instanceof PreparedCedarContext ? request.context : this.prepareContext(request.context);
    checkUid(request.principal, 'principal');
    checkUid(request.action, 'action');
    checkUid(request.resource, 'resource');
    const context = prepared.json;
    if (loaded.compiled !== undefined) {
      const compiled = prepared.compiled;
      if (compiled !== undefined) {
        const answer = decideCompiled(loaded.compiled, {
          principal: request.principal,
          action: request.action,
          resource: request.resource,
          context: compiled,
        });
        if (answer !== undefined) return answer;
      }
    }
    const call: CedarWasm.StatefulAuthorizationCall = {
      principal: request.principal,
      action: request.action,
      resource: request.resource,
      context,
      preparsedPolicySetId: loaded.psetId,
      entities: loaded.entities,
    };
    if (loaded.schemaName !== undefined) {
      call.preparsedSchemaName = loaded.schemaName;
      call.validateRequest = this.#options.validateRequest ?? false;
    }
    const answer = cedar().statefulIsAuthorized(call);
    if (answer.type === 'failure') {
      // The set was checked at load, so Cedar refused this request: an invalid extension value, an
      // entity type it does not know, a context the schema does not allow.
      const diagnostics = diagnosticsOf(answer.errors, 'request');
      throw Object.assign(
        ctlsError(
          'ERR_CTLS_CEDAR_CONTEXT',
          `Cedar refused the request: ${answer.errors.map((e) => e.message).join('; ')}`,
        ),
        { path: 'request', diagnostics },
      );
    }
    const { decision, diagnostics } = answer.response;
    // cedar-wasm lists them in hash order, which changes from call to call: use the set's order.
    const inSetOrder = (ids: string[]): string[] =>
      ids.sort((a, b) => (loaded.order.get(a) ?? 0) - (loaded.order.get(b) ?? 0));
    return {
      allow: decision === 'allow',
      policies: inSetOrder(diagnostics.reason),
      errors: inSetOrder(diagnostics.errors.map((e) => e.policyId)),
    };
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Re-reads file or dir now. Resolves true when a new set was loaded, false when nothing changed
   * or the change was invalid (then 'error' was emitted and the old set is still in force).
   */
  async reload(): Promise<boolean> {
    if (this.#closed || this.#options.policies !== undefined) return false;
    let sources: Sources;
    try {
      sources = readSources(this.#options);
      if (sources.fingerprint === this.#loaded.fingerprint) return false;
      this.#swap(this.#compile(sources, this.#version % 2 === 1 ? 1 : 0));
    } catch (err) {
      this.#reportError(err);
      return false;
    }
    this.emit('reload', { version: this.#version, sources: sources.policies.map((s) => s.name) });
    return true;
  }

  /** Replaces the policy text (for policies given as text); throws ERR_CTLS_CEDAR if invalid. */
  setPolicies(text: string): void {
    if (typeof text !== 'string') throw invalidOption('policies', 'a string of Cedar policies', text);
    const sources: Sources = { policies: [{ name: 'policies', text }], fingerprint: text };
    if (this.#options.schema !== undefined) sources.schema = this.#options.schema;
    if (this.#options.entities !== undefined) sources.entities = this.#options.entities;
    this.#swap(this.#compile(sources, this.#version % 2 === 1 ? 1 : 0));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.close();
    clearTimeout(this.#debounce);
    this.#listeners.clear();
    // cedar-wasm has no way to drop a pre-parsed set: overwrite both slots with empty ones.
    for (const slot of [0, 1]) cedar().preparsePolicySet(`${this.#slotPrefix}-${slot}`, {});
  }

  #swap(next: Loaded): void {
    // The one assignment that makes the new set current (decisions are synchronous, so none is
    // half-way through the old set now).
    this.#loaded = next;
    this.#version++;
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (err) {
        process.emitWarning(`A Cedar onChange listener threw: ${String(err)}`, 'ContinuousTlsWarning');
      }
    }
  }

  #reportError(err: unknown): void {
    const e =
      err instanceof ContinuousTlsError
        ? (err as CedarError)
        : cedarError(
            `Cedar policies could not be reloaded: ${err instanceof Error ? err.message : String(err)}`,
            [],
            err,
          );
    // An 'error' event nobody listens to would throw and take the server down over a typo in a
    // policy file; the old policies are still in force, so a warning is enough then.
    if (this.listenerCount('error') > 0) this.emit('error', e);
    else process.emitWarning(e.message, { type: 'ContinuousTlsWarning', code: e.code });
  }

  #startWatch(): void {
    const dir = this.#options.dir !== undefined ? resolve(this.#options.dir) : dirname(resolve(this.#options.file!));
    const file = this.#options.file !== undefined ? basename(this.#options.file) : undefined;
    const relevant = (name: string | null): boolean =>
      name === null || (file !== undefined ? name === file : isSourceFile(name));
    this.#watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (!relevant(name)) return;
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => void this.reload(), timerDelay(this.#options.debounceMs ?? 25));
    });
    this.#watcher.on('error', (err) => this.#reportError(err));
  }

  /** Parses and checks everything into pre-parsed slot `slot`; throws ERR_CTLS_CEDAR on any problem. */
  #compile(sources: Sources, slot: number): Loaded {
    const c = cedar();
    const { set, ids, owner, json, templates } = splitPolicies(sources.policies);
    const loaded: Loaded = {
      psetId: `${this.#slotPrefix}-${slot}`,
      entities: sources.entities ?? [],
      fingerprint: sources.fingerprint,
      policyIds: ids,
      order: new Map(ids.map((id, i) => [id, i])),
      factsRead: null,
    };
    const forms = ids.map((id) => json.get(id));
    if (
      sources.schema === undefined &&
      templates === 0 &&
      this.#options.mapping === undefined &&
      forms.every((f) => f !== undefined)
    ) {
      loaded.factsRead = Object.freeze(factsReadBy(forms as CedarWasm.PolicyJson[]));
    }
    if (sources.schema !== undefined) {
      const schemaText = typeof sources.schema === 'string' ? sources.schema : undefined;
      const parsed = c.checkParseSchema(sources.schema);
      if (parsed.type === 'failure')
        throw cedarError('The Cedar schema is invalid', diagnosticsOf(parsed.errors, 'schema', schemaText));
      const validation = c.validate({ schema: sources.schema, policies: set });
      if (validation.type === 'failure')
        throw cedarError('Cedar policy validation failed', diagnosticsOf(validation.errors, 'schema'));
      const problems = validation.validationErrors.flatMap((v) =>
        diagnosticsOf([v.error], owner.get(v.policyId) ?? 'policies', undefined, v.policyId),
      );
      if (problems.length > 0) throw cedarError('Cedar policies do not validate against the schema', problems);
      loaded.schemaName = loaded.psetId;
      const pre = c.preparseSchema(loaded.schemaName, sources.schema);
      if (pre.type === 'failure')
        throw cedarError('The Cedar schema is invalid', diagnosticsOf(pre.errors, 'schema', schemaText));
    }
    const entities = c.checkParseEntities({ entities: loaded.entities, schema: sources.schema ?? null });
    if (entities.type === 'failure')
      throw cedarError('Cedar entities are invalid', diagnosticsOf(entities.errors, 'entities'));
    const pre = c.preparsePolicySet(loaded.psetId, set);
    if (pre.type === 'failure') throw cedarError('Cedar policies are invalid', diagnosticsOf(pre.errors, 'policies'));
    if (this.#options.engine !== 'wasm') {
      const compiled = compileForEngine({
        policies: ids.map((id) => ({ id, json: json.get(id) })),
        templates,
        entities: loaded.entities,
        schema: sources.schema !== undefined,
      });
      // A set the compiler refuses (compiled.reason says why) stays on cedar-wasm.
      if ('set' in compiled) loaded.compiled = compiled.set;
    }
    return loaded;
  }
}

// Cedar decides synchronously and never needs an abort signal, so evaluatePolicy calls it without
// the AbortController it would make for an adapter, which would cost as much as the compiled
// decision itself. A subclass that overrides evaluate() is called through it, with a signal.
const cedarEvaluate = CedarPolicy.prototype.evaluate;
evaluatesLazily(cedarEvaluate, function (this: PolicyAdapter, input: AuthorizationInput) {
  return cedarEvaluate.call(this as CedarPolicy, input);
});

export function cedarPolicy(options: CedarPolicyOptions): CedarPolicy {
  return new CedarPolicy(options);
}

const wellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

/** An entity uid crosses into Cedar as UTF-8: a lone surrogate would arrive altered. */
function checkUid(uid: CedarEntityUid, at: string): void {
  for (const field of ['type', 'id'] as const) {
    const v = (uid as unknown as Record<string, unknown> | null)?.[field];
    if (typeof v !== 'string' || !wellFormed.call(v)) {
      throw Object.assign(
        ctlsError('ERR_CTLS_CEDAR_CONTEXT', `${at}.${field} is not a well-formed string: the request is refused`),
        { path: `${at}.${field}` },
      );
    }
  }
}

function reasonOf(a: CedarAnswer): string {
  const errored = a.errors.length > 0 ? ` (errored: ${a.errors.join(', ')})` : '';
  if (a.allow) return `cedar: permit ${a.policies.join(', ')}`;
  if (a.policies.length > 0) return `cedar: forbid ${a.policies.join(', ')}${errored}`;
  return `cedar: no permit${errored}`;
}

function checkOptions(options: CedarPolicyOptions): void {
  if (checkObject('options', options) === undefined) throw invalidOption('options', 'an object', options);
  const o = options;
  const given = (['policies', 'file', 'dir'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1)
    throw invalidOption(
      'policies',
      'given exactly once, as policies, file or dir',
      given.length === 0 ? undefined : given.join(' and '),
    );
  for (const k of given) checkString(k, o[k]);
  if (checkBoolean('watch', o.watch) === true && o.policies !== undefined)
    throw invalidOption('watch', 'used with file or dir, not with policies text');
  if (o.entities !== undefined && !Array.isArray(o.entities))
    throw invalidOption('entities', 'an array of Cedar entities', o.entities);
  if (o.schema !== undefined && (o.schema === null || (typeof o.schema !== 'string' && typeof o.schema !== 'object'))) {
    throw invalidOption('schema', 'Cedar schema text or JSON', o.schema);
  }
  checkDuration('debounceMs', o.debounceMs, undefined, { zero: true });
  const mapping = checkObject('mapping', o.mapping);
  if (mapping !== undefined)
    for (const k of ['principal', 'action', 'resource', 'context'] as const) checkFunction(`mapping.${k}`, mapping[k]);
  checkString('name', o.name);
  checkOneOf('engine', o.engine, ['auto', 'wasm']);
  checkOneOf('fractions', o.fractions, ['deny', 'decimal']);
}
