/**
 * Compiles Cedar policies, in Cedar's JSON policy format (EST, from cedar-wasm's policyToJson), into
 * JS closures that decide a request with Cedar's semantics without crossing into wasm.
 *
 * cedar-wasm stays the parser and the reference: a set that uses anything this compiler does not
 * know (templates, slots, datetime/duration, an operator added by a later Cedar) is refused with
 * Unsupported and stays on cedar-wasm as a whole, and a request holding a value the evaluator cannot
 * represent exactly throws Unrepresentable so that one request goes to cedar-wasm.
 *
 * Semantics followed (Cedar 4.x): `&&`, `||` and if-then-else short-circuit and require booleans;
 * comparisons and arithmetic take Longs only, and overflow is an error; `==` is structural and never
 * fails; `.` on a missing attribute or an entity absent from the store is an error, `has` is false
 * then; `in` is reflexive and follows the store's transitive parents; a policy whose condition
 * errors is skipped and reported. Decision: allow iff some permit holds and no forbid holds.
 *
 * The file stays whole: it is one recursive compiler whose expression, operator and extension-call
 * cases compile into one another, so Cedar's semantics read in one place.
 */
import type { EntityJson, Expr, PolicyJson } from '@cedar-policy/cedar-wasm/nodejs';
import { isLoopback, isMulticast, parseDecimal, parseIp } from './extensions.js';
import {
  Decimal,
  EntityRef,
  EvaluationError,
  IpAddr,
  Unrepresentable,
  entityFromUid,
  entityIn,
  entityStore,
  fromCedarJson,
  isSet,
  setIncludes,
  setIncludesAll,
  valueEquals,
  type CedarRecord,
  type CedarSet,
  type EntityStore,
  type Value,
} from './runtime.js';

/** A policy set (or part of one) the compiler does not handle: the set stays on cedar-wasm. */
export class Unsupported {
  constructor(readonly message: string) {}
}

export interface CompiledRequest {
  principal: EntityRef;
  action: EntityRef;
  resource: EntityRef;
  context: CedarRecord;
}

export interface CompiledAnswer {
  allow: boolean;
  policies: string[];
  errors: string[];
}

interface Env extends CompiledRequest {
  store: EntityStore;
}

type Eval = (env: Env) => Value;
type Test = (env: Env) => boolean;

interface CompiledPolicy {
  id: string;
  forbid: boolean;
  /** True when scope and conditions hold; throws EvaluationError when a condition errors. */
  holds: Test;
}

export class CompiledPolicySet {
  readonly #policies: CompiledPolicy[];
  readonly #store: EntityStore;

  constructor(policies: CompiledPolicy[], store: EntityStore) {
    this.#policies = policies;
    this.#store = store;
  }

  /**
   * Cedar's authorization: `policies` are the satisfied forbids for a deny by forbid, the satisfied
   * permits for an allow, and `errors` every policy that errored, both in policy-set order. Throws
   * Unrepresentable when only cedar-wasm can decide this request.
   */
  decide(request: CompiledRequest): CompiledAnswer {
    const env: Env = {
      principal: request.principal,
      action: request.action,
      resource: request.resource,
      context: request.context,
      store: this.#store,
    };
    const permits: string[] = [];
    const forbids: string[] = [];
    const errors: string[] = [];
    for (const policy of this.#policies) {
      let holds: boolean;
      try {
        holds = policy.holds(env);
      } catch (err) {
        if (!(err instanceof EvaluationError)) throw err;
        errors.push(policy.id);
        continue;
      }
      if (holds) (policy.forbid ? forbids : permits).push(policy.id);
    }
    if (forbids.length > 0) return { allow: false, policies: forbids, errors };
    return { allow: permits.length > 0, policies: permits, errors };
  }
}

/**
 * Compiles a whole set with its entities. Throws Unsupported (or Unrepresentable, for entities or
 * literals the evaluator cannot hold) when the set has to stay on cedar-wasm.
 */
export function compilePolicySet(
  policies: ReadonlyArray<{ id: string; json: PolicyJson }>,
  entities: readonly EntityJson[],
): CompiledPolicySet {
  const compiled = policies.map(({ id, json }) => ({
    id,
    forbid: json.effect === 'forbid',
    holds: compilePolicy(json),
  }));
  return new CompiledPolicySet(compiled, entityStore(entities));
}

function compilePolicy(policy: PolicyJson): Test {
  if (policy.effect !== 'permit' && policy.effect !== 'forbid')
    throw new Unsupported(`effect ${String(policy.effect)}`);
  const tests: Test[] = [];
  const principal = scopeTest(policy.principal, 'principal');
  const action = actionTest(policy.action);
  const resource = scopeTest(policy.resource, 'resource');
  if (principal !== undefined) tests.push(principal);
  if (action !== undefined) tests.push(action);
  if (resource !== undefined) tests.push(resource);
  for (const clause of policy.conditions ?? []) {
    const body = compileExpr(clause.body);
    if (clause.kind === 'when') tests.push((env) => asBool(body(env)));
    else if (clause.kind === 'unless') tests.push((env) => !asBool(body(env)));
    else throw new Unsupported(`condition kind ${String((clause as { kind: unknown }).kind)}`);
  }
  // Cedar joins scope and conditions with `&&`, in this order.
  return (env) => {
    for (const test of tests) if (!test(env)) return false;
    return true;
  };
}

type ScopeJson = PolicyJson['principal'];

/** undefined for a scope that matches everything. */
function scopeTest(scope: ScopeJson, variable: 'principal' | 'resource'): Test | undefined {
  const at = (env: Env): EntityRef => env[variable];
  switch (scope.op) {
    case 'All':
      return undefined;
    case '==': {
      const key = literalEntity(scope).key;
      return (env) => at(env).key === key;
    }
    case 'in': {
      const target = literalEntity(scope);
      return (env) => entityIn(at(env), target, env.store);
    }
    case 'is': {
      const type = scope.entity_type;
      if (typeof type !== 'string') throw new Unsupported('an `is` scope without a type');
      if (scope.in === undefined) return (env) => at(env).type === type;
      const target = literalEntity(scope.in);
      return (env) => at(env).type === type && entityIn(at(env), target, env.store);
    }
    default:
      throw new Unsupported(`scope operator ${String((scope as { op: unknown }).op)}`);
  }
}

function actionTest(scope: PolicyJson['action']): Test | undefined {
  switch (scope.op) {
    case 'All':
      return undefined;
    case '==': {
      const key = literalEntity(scope).key;
      return (env) => env.action.key === key;
    }
    case 'in': {
      const targets =
        'entities' in scope ? scope.entities.map((e) => literalEntity({ entity: e })) : [literalEntity(scope)];
      return (env) => targets.some((t) => entityIn(env.action, t, env.store));
    }
    default:
      throw new Unsupported(`action scope operator ${String((scope as { op: unknown }).op)}`);
  }
}

/** The entity of a scope constraint; a template slot is unsupported. */
function literalEntity(c: object): EntityRef {
  if (!('entity' in c)) throw new Unsupported('a template slot');
  try {
    return entityFromUid(c.entity);
  } catch {
    throw new Unsupported('an entity reference the compiled evaluator does not take');
  }
}

const BINARY = new Set([
  '==',
  '!=',
  'in',
  '<',
  '<=',
  '>',
  '>=',
  '&&',
  '||',
  '+',
  '-',
  '*',
  'contains',
  'containsAll',
  'containsAny',
  'getTag',
  'hasTag',
]);

function compileExpr(expr: Expr): Eval {
  if (expr === null || typeof expr !== 'object') throw new Unsupported('an expression that is not an object');
  const keys = Object.keys(expr);
  if (keys.length !== 1) throw new Unsupported(`an expression with keys ${keys.join(', ')}`);
  const op = keys[0]!;
  const node = (expr as Record<string, unknown>)[op];
  if (BINARY.has(op)) {
    const { left, right } = node as { left: Expr; right: Expr };
    return binary(op, compileExpr(left), compileExpr(right));
  }
  switch (op) {
    case 'Value': {
      const value = literal(node);
      return () => value;
    }
    case 'Var':
      return variable(node);
    case '!': {
      const arg = compileExpr((node as { arg: Expr }).arg);
      return (env) => !asBool(arg(env));
    }
    case 'neg': {
      const arg = compileExpr((node as { arg: Expr }).arg);
      return (env) => 0 - asLong(arg(env));
    }
    case 'isEmpty': {
      const arg = compileExpr((node as { arg: Expr }).arg);
      return (env) => asSet(arg(env)).length === 0;
    }
    case '.': {
      const { left, attr } = node as { left: Expr; attr: string };
      const of = compileExpr(left);
      return (env) => getAttr(of(env), attr, env.store);
    }
    case 'has':
      return compileHas(node as { left: Expr; attr: string | string[] });
    case 'like': {
      const { left, pattern } = node as { left: Expr; pattern: unknown[] };
      const of = compileExpr(left);
      const matches = likeMatcher(pattern);
      return (env) => matches(asString(of(env)));
    }
    case 'is':
      return compileIs(node as { left: Expr; entity_type: string; in?: Expr });
    case 'if-then-else': {
      const n = node as { if: Expr; then: Expr; else: Expr };
      const cond = compileExpr(n.if);
      const then = compileExpr(n.then);
      const otherwise = compileExpr(n.else);
      return (env) => (asBool(cond(env)) ? then(env) : otherwise(env));
    }
    case 'Set': {
      if (!Array.isArray(node)) throw new Unsupported('a Set that is not an array');
      const items = node.map((e) => compileExpr(e as Expr));
      return (env) => items.map((item) => item(env));
    }
    case 'Record': {
      if (node === null || typeof node !== 'object') throw new Unsupported('a Record that is not an object');
      const fields = Object.entries(node as Record<string, Expr>).map(([k, e]) => [k, compileExpr(e)] as const);
      return (env) => new Map(fields.map(([k, f]) => [k, f(env)]));
    }
    default:
      if (!Array.isArray(node)) throw new Unsupported(`the operator ${op}`);
      return extensionCall(
        op,
        node.map((e) => compileExpr(e as Expr)),
        node as Expr[],
      );
  }
}

function literal(json: unknown): Value {
  try {
    return fromCedarJson(json);
  } catch (err) {
    if (err instanceof Unrepresentable) throw new Unsupported(`the literal: ${err.message}`);
    throw err;
  }
}

function variable(name: unknown): Eval {
  switch (name) {
    case 'principal':
      return (env) => env.principal;
    case 'action':
      return (env) => env.action;
    case 'resource':
      return (env) => env.resource;
    case 'context':
      return (env) => env.context;
    default:
      throw new Unsupported(`the variable ${String(name)}`);
  }
}

function binary(op: string, left: Eval, right: Eval): Eval {
  switch (op) {
    case '&&':
      return (env) => asBool(left(env)) && asBool(right(env));
    case '||':
      return (env) => asBool(left(env)) || asBool(right(env));
    case '==':
      return (env) => valueEquals(left(env), right(env));
    case '!=':
      return (env) => !valueEquals(left(env), right(env));
    case '<':
      return (env) => asLong(left(env)) < asLong(right(env));
    case '<=':
      return (env) => asLong(left(env)) <= asLong(right(env));
    case '>':
      return (env) => asLong(left(env)) > asLong(right(env));
    case '>=':
      return (env) => asLong(left(env)) >= asLong(right(env));
    case '+':
      return (env) => exactSum(asLong(left(env)) + asLong(right(env)));
    case '-':
      return (env) => exactSum(asLong(left(env)) - asLong(right(env)));
    case '*':
      return (env) => checkedProduct(asLong(left(env)), asLong(right(env)));
    case 'in':
      return (env) => isIn(left(env), right(env), env.store);
    case 'contains':
      return (env) => {
        const set = asSet(left(env));
        return setIncludes(set, right(env));
      };
    case 'containsAll':
      return (env) => {
        const set = asSet(left(env));
        return setIncludesAll(set, asSet(right(env)));
      };
    case 'containsAny':
      return (env) => {
        const set = asSet(left(env));
        return asSet(right(env)).some((item) => setIncludes(set, item));
      };
    case 'hasTag':
      return (env) => {
        const entity = asEntity(left(env));
        const tag = asString(right(env));
        return env.store.get(entity.key)?.tags.has(tag) === true;
      };
    case 'getTag':
      return (env) => {
        const entity = asEntity(left(env));
        const tag = asString(right(env));
        const stored = env.store.get(entity.key);
        if (stored === undefined) throw new EvaluationError(`entity ${entity.type}::"${entity.id}" does not exist`);
        const value = stored.tags.get(tag);
        if (value === undefined) throw new EvaluationError(`entity ${entity.type}::"${entity.id}" has no tag ${tag}`);
        return value;
      };
    default:
      throw new Unsupported(`the operator ${op}`);
  }
}

/**
 * A sum or difference of two safe integers is exact whenever it is itself safe, and cannot overflow
 * an i64 (|result| < 2^54); outside the safe range only cedar-wasm holds the exact value.
 */
function exactSum(result: number): number {
  if (Number.isSafeInteger(result)) return result;
  throw new Unrepresentable('a Long beyond 2^53');
}

function checkedProduct(a: number, b: number): number {
  const result = a * b;
  if (Number.isSafeInteger(result)) return result;
  const exact = BigInt(a) * BigInt(b);
  if (exact > 9_223_372_036_854_775_807n || exact < -9_223_372_036_854_775_808n)
    throw new EvaluationError('integer overflow');
  throw new Unrepresentable('a Long beyond 2^53');
}

/** `a in b`: b an entity or a set of entities (every member must be an entity, even after a match). */
function isIn(a: Value, b: Value, store: EntityStore): boolean {
  const entity = asEntity(a);
  if (b instanceof EntityRef) return entityIn(entity, b, store);
  if (!isSet(b)) throw typeError('an entity or a set of entities', b);
  const targets = b.map(asEntity);
  return targets.some((t) => entityIn(entity, t, store));
}

function getAttr(of: Value, attr: string, store: EntityStore): Value {
  let record: CedarRecord;
  if (of instanceof EntityRef) {
    const stored = store.get(of.key);
    if (stored === undefined) throw new EvaluationError(`entity ${of.type}::"${of.id}" does not exist`);
    record = stored.attrs;
  } else if (of instanceof Map) {
    record = of;
  } else {
    throw typeError('a record or an entity', of);
  }
  const value = record.get(attr);
  if (value === undefined) throw new EvaluationError(`no attribute ${attr}`);
  return value;
}

function hasAttr(of: Value, attr: string, store: EntityStore): boolean {
  if (of instanceof EntityRef) return store.get(of.key)?.attrs.has(attr) === true;
  if (of instanceof Map) return of.has(attr);
  throw typeError('a record or an entity', of);
}

/** `e has a.b.c` is `e has a && e.a has b && e.a.b has c`. */
function compileHas(node: { left: Expr; attr: string | string[] }): Eval {
  const of = compileExpr(node.left);
  const path = typeof node.attr === 'string' ? [node.attr] : node.attr;
  if (!Array.isArray(path) || path.length === 0 || !path.every((a) => typeof a === 'string'))
    throw new Unsupported('a `has` without attributes');
  if (path.length === 1) {
    const attr = path[0]!;
    return (env) => hasAttr(of(env), attr, env.store);
  }
  return (env) => {
    let value = of(env);
    for (let i = 0; i < path.length; i++) {
      if (!hasAttr(value, path[i]!, env.store)) return false;
      if (i < path.length - 1) value = getAttr(value, path[i]!, env.store);
    }
    return true;
  };
}

function compileIs(node: { left: Expr; entity_type: string; in?: Expr }): Eval {
  const of = compileExpr(node.left);
  const type = node.entity_type;
  if (typeof type !== 'string') throw new Unsupported('an `is` without a type');
  if (node.in === undefined) return (env) => asEntity(of(env)).type === type;
  const within = compileExpr(node.in);
  // `e is T in x` is `e is T && e in x`: x is not evaluated when the type differs.
  return (env) => {
    const entity = asEntity(of(env));
    return entity.type === type && isIn(entity, within(env), env.store);
  };
}

/** `like`: `*` matches any run of characters (escaped `\*` arrives here as a literal). */
function likeMatcher(pattern: unknown[]): (s: string) => boolean {
  if (!Array.isArray(pattern)) throw new Unsupported('a `like` pattern that is not an array');
  const segments = [''];
  for (const element of pattern) {
    if (element === 'Wildcard') segments.push('');
    else if (
      element !== null &&
      typeof element === 'object' &&
      typeof (element as { Literal?: unknown }).Literal === 'string'
    ) {
      segments[segments.length - 1] += (element as { Literal: string }).Literal;
    } else throw new Unsupported('a `like` pattern element');
  }
  const first = segments[0]!;
  if (segments.length === 1) return (s) => s === first;
  const last = segments[segments.length - 1]!;
  const middle = segments.slice(1, -1).filter((seg) => seg !== '');
  // Glob with `*` only: the leftmost match of each middle segment is never worse than a later one.
  return (s) => {
    if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
    const end = s.length - last.length;
    let at = first.length;
    for (const seg of middle) {
      const found = s.indexOf(seg, at);
      if (found === -1 || found + seg.length > end) return false;
      at = found + seg.length;
    }
    return true;
  };
}

const DECIMAL_COMPARISONS: Record<string, (a: bigint, b: bigint) => boolean> = {
  lessThan: (a, b) => a < b,
  lessThanOrEqual: (a, b) => a <= b,
  greaterThan: (a, b) => a > b,
  greaterThanOrEqual: (a, b) => a >= b,
};

const IP_TESTS: Record<string, (ip: IpAddr) => boolean> = {
  isIpv4: (ip) => !ip.v6,
  isIpv6: (ip) => ip.v6,
  isLoopback,
  isMulticast,
};

function extensionCall(name: string, args: Eval[], json: Expr[]): Eval {
  const arity = (n: number): void => {
    if (args.length !== n) throw new Unsupported(`${name} with ${args.length} arguments`);
  };
  if (name === 'decimal' || name === 'ip') {
    arity(1);
    const parse = name === 'decimal' ? parseDecimal : parseIp;
    const arg = args[0]!;
    const construct: Eval = (env) =>
      parse(asString(arg(env))) ?? unrepresentable(`${name}() of a string only Cedar can judge`);
    // A constructor of a literal string (the usual case) is parsed once, here.
    const only = json[0];
    if (only !== undefined && 'Value' in only && typeof only.Value === 'string') {
      const value = parse(only.Value);
      if (value !== undefined) return () => value;
    }
    return construct;
  }
  const decimalComparison = DECIMAL_COMPARISONS[name];
  if (decimalComparison !== undefined) {
    arity(2);
    const [a, b] = args as [Eval, Eval];
    return (env) => decimalComparison(asDecimal(a(env)).scaled, asDecimal(b(env)).scaled);
  }
  const ipTest = IP_TESTS[name];
  if (ipTest !== undefined) {
    arity(1);
    const a = args[0]!;
    return (env) => ipTest(asIp(a(env)));
  }
  if (name === 'isInRange') {
    arity(2);
    const [a, b] = args as [Eval, Eval];
    return (env) => asIp(a(env)).isInRange(asIp(b(env)));
  }
  throw new Unsupported(`the extension function ${name}`);
}

function unrepresentable(what: string): never {
  throw new Unrepresentable(what);
}

function typeError(expected: string, got: Value): EvaluationError {
  return new EvaluationError(`type error: expected ${expected}, got ${typeName(got)}`);
}

function typeName(v: Value): string {
  if (typeof v !== 'object') return typeof v === 'number' ? 'long' : typeof v;
  if (v instanceof EntityRef) return 'entity';
  if (v instanceof Map) return 'record';
  if (v instanceof Decimal) return 'decimal';
  if (v instanceof IpAddr) return 'ipaddr';
  return 'set';
}

function asBool(v: Value): boolean {
  if (typeof v !== 'boolean') throw typeError('bool', v);
  return v;
}

function asLong(v: Value): number {
  if (typeof v !== 'number') throw typeError('long', v);
  return v;
}

function asString(v: Value): string {
  if (typeof v !== 'string') throw typeError('string', v);
  return v;
}

function asEntity(v: Value): EntityRef {
  if (!(v instanceof EntityRef)) throw typeError('an entity', v);
  return v;
}

function asSet(v: Value): CedarSet {
  if (!isSet(v)) throw typeError('a set', v);
  return v;
}

function asDecimal(v: Value): Decimal {
  if (!(v instanceof Decimal)) throw typeError('decimal', v);
  return v;
}

function asIp(v: Value): IpAddr {
  if (!(v instanceof IpAddr)) throw typeError('ipaddr', v);
  return v;
}
