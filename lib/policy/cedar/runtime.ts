/**
 * The values the compiled Cedar evaluator (compile.ts) works on, and the conversion into them
 * from Cedar's JSON value format (contexts, entity attributes, literals in the JSON policy format).
 *
 * | Cedar     | here                                              |
 * |-----------|---------------------------------------------------|
 * | Bool      | boolean                                           |
 * | Long      | number, always a safe integer (see below)         |
 * | String    | string                                            |
 * | Entity    | EntityRef                                         |
 * | Set       | array (unordered, may hold duplicates: compared as a set) |
 * | Record    | Map                                               |
 * | decimal   | Decimal (extensions.ts)                     |
 * | ipaddr    | IpAddr (extensions.ts)                      |
 *
 * Cedar's Long is an i64; numbers hold it exactly only within ±2^53. Whatever this evaluator cannot
 * hold or decide exactly (a larger Long, an unknown extension value, a string Cedar would refuse)
 * throws Unrepresentable, and the caller hands that request to cedar-wasm: slower, never wrong.
 */
import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import { Decimal, IpAddr, parseDecimal, parseIp } from './extensions.js';

export { Decimal, IpAddr } from './extensions.js';

export type Value = boolean | number | string | EntityRef | Decimal | IpAddr | CedarRecord | CedarSet;
export type CedarSet = readonly Value[];
export type CedarRecord = ReadonlyMap<string, Value>;

/**
 * A Cedar evaluation error (type error, missing attribute, overflow …): the policy is skipped and
 * reported, as Cedar does. Not an Error subclass: no stack is captured on this frequent path.
 */
export class EvaluationError {
  constructor(readonly message: string) {}
}

/** Something only cedar-wasm can decide exactly: the whole request goes to it. */
export class Unrepresentable {
  constructor(readonly message: string) {}
}

export class EntityRef {
  /** type and id joined by NUL, which no entity type name can contain: unique per entity. */
  readonly key: string;
  constructor(
    readonly type: string,
    readonly id: string,
  ) {
    this.key = `${type}\0${id}`;
  }
}

export interface StoredEntity {
  attrs: CedarRecord;
  /** Keys of every ancestor (transitive parents), including parents that are not in the store. */
  ancestors: ReadonlySet<string>;
  tags: CedarRecord;
}

export type EntityStore = ReadonlyMap<string, StoredEntity>;

const wellFormed = (String.prototype as unknown as { isWellFormed(this: string): boolean }).isWellFormed;

/** False for a string with a lone surrogate, which Cedar (UTF-8 strings) cannot receive. */
export function isWellFormed(s: string): boolean {
  return wellFormed.call(s);
}

/** Cedar's `==`: structural, never an error; values of different types are unequal. */
export function valueEquals(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object') return false;
  if (a instanceof EntityRef) return b instanceof EntityRef && a.key === b.key;
  if (isSet(a)) return isSet(b) && setIncludesAll(a, b) && setIncludesAll(b, a);
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) {
      const w = b.get(k);
      if (w === undefined || !valueEquals(v, w)) return false;
    }
    return true;
  }
  if (a instanceof Decimal) return b instanceof Decimal && a.scaled === b.scaled;
  if (a instanceof IpAddr) return b instanceof IpAddr && a.equals(b);
  return false;
}

export function isSet(v: Value): v is CedarSet {
  return Array.isArray(v);
}

/**
 * Sets longer than this are indexed for membership: a context set comes from the caller, and a
 * linear scan per item made `a.containsAll(b)` quadratic in their sizes.
 */
const INDEX_FROM = 16;

interface SetIndex {
  /** Scalars and entities by a key that is equal exactly when the values are Cedar-equal. */
  keys: Set<string>;
  /** Records, sets and extension values: compared structurally, one by one. */
  others: Value[];
}

const indexes = new WeakMap<CedarSet, SetIndex>();

/** A key for a scalar or an entity, equal exactly when Cedar's `==` holds; undefined for the rest. */
function scalarKey(v: Value): string | undefined {
  switch (typeof v) {
    case 'string':
      return `s${v}`;
    case 'number':
      return `n${v}`;
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      return v instanceof EntityRef ? `e${v.key}` : undefined;
  }
}

function indexOf(set: CedarSet): SetIndex {
  let index = indexes.get(set);
  if (index === undefined) {
    index = { keys: new Set(), others: [] };
    for (const item of set) {
      const key = scalarKey(item);
      if (key === undefined) index.others.push(item);
      else index.keys.add(key);
    }
    indexes.set(set, index);
  }
  return index;
}

export function setIncludes(set: CedarSet, v: Value): boolean {
  if (set.length >= INDEX_FROM) {
    const index = indexOf(set);
    const key = scalarKey(v);
    if (key !== undefined) return index.keys.has(key);
    for (const item of index.others) if (valueEquals(item, v)) return true;
    return false;
  }
  for (const item of set) if (valueEquals(item, v)) return true;
  return false;
}

export function setIncludesAll(set: CedarSet, items: CedarSet): boolean {
  for (const item of items) if (!setIncludes(set, item)) return false;
  return true;
}

/** Cedar's `in` on two entities: the same entity, or `b` among `a`'s ancestors in the store. */
export function entityIn(a: EntityRef, b: EntityRef, store: EntityStore): boolean {
  return a.key === b.key || store.get(a.key)?.ancestors.has(b.key) === true;
}

/**
 * A Cedar entity type name: `::`-separated identifiers. Conservative on purpose (no reserved words,
 * ASCII only): a name this refuses goes to cedar-wasm, which accepts or rejects it itself.
 */
const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*(?:::[_a-zA-Z][_a-zA-Z0-9]*)*$/;
const RESERVED = new Set([
  'true',
  'false',
  'if',
  'then',
  'else',
  'in',
  'is',
  'like',
  'has',
  'principal',
  'action',
  'resource',
  'context',
  '__cedar',
]);
/**
 * Type names already found valid. Names come from policies and mappings, a handful per app, but a
 * request's types can come from a caller (the decision point's `subject.type`), so the memo is
 * bounded in entries and in bytes: only names of at most MAX_REMEMBERED_NAME_CHARS are kept, at most
 * MAX_REMEMBERED_NAMES of them (about 1.25 MiB of characters), and never emptied. A name not kept is
 * checked in full every time.
 */
const checkedNames = new Set<string>();
const MAX_REMEMBERED_NAMES = 10_000;
const MAX_REMEMBERED_NAME_CHARS = 128;

function isEntityTypeName(type: string): boolean {
  if (checkedNames.has(type)) return true;
  if (!NAME.test(type) || type.split('::').some((part) => RESERVED.has(part))) return false;
  if (type.length <= MAX_REMEMBERED_NAME_CHARS && checkedNames.size < MAX_REMEMBERED_NAMES) {
    // A copy of its own: `type` may be a slice of a larger string (a header, a body) that the Set
    // would otherwise keep whole. A valid name is ASCII, so latin1 spells it exactly.
    checkedNames.add(Buffer.from(type, 'latin1').toString('latin1'));
  }
  return true;
}

/** An entity reference as the request or entities.json gives it: `{ type, id }` or `{ __entity: { type, id } }`. */
export function entityFromUid(uid: unknown): EntityRef {
  if (uid === null || typeof uid !== 'object') throw new Unrepresentable('an entity reference is not an object');
  const inner = '__entity' in uid ? (uid as { __entity: unknown }).__entity : uid;
  if (inner === null || typeof inner !== 'object') throw new Unrepresentable('an entity reference is not an object');
  const { type, id } = inner as { type?: unknown; id?: unknown };
  if (
    Object.keys(inner).length !== 2 ||
    typeof type !== 'string' ||
    typeof id !== 'string' ||
    !isEntityTypeName(type) ||
    !isWellFormed(id)
  ) {
    throw new Unrepresentable('an entity reference the compiled evaluator does not take');
  }
  return new EntityRef(type, id);
}

/** A Cedar JSON value (CedarValueJson) as a Value; throws Unrepresentable for anything doubtful. */
export function fromCedarJson(json: unknown, depth = 0): Value {
  switch (typeof json) {
    case 'boolean':
      return json;
    case 'string':
      if (!isWellFormed(json)) throw new Unrepresentable('a string with a lone surrogate');
      return json;
    case 'number':
      if (!Number.isSafeInteger(json)) throw new Unrepresentable(`the number ${json}`);
      return json;
    case 'object': {
      if (json === null) throw new Unrepresentable('null');
      // Cedar JSON nests without limit, the JS stack does not: deep values go to cedar-wasm.
      if (depth > 64) throw new Unrepresentable('a value nested too deeply');
      if (Array.isArray(json)) return json.map((item) => fromCedarJson(item, depth + 1));
      const keys = Object.keys(json);
      if (keys.length === 1 && keys[0] === '__entity') return entityFromUid(json);
      if (keys.length === 1 && keys[0] === '__extn') return extensionFromJson((json as { __extn: unknown }).__extn);
      if (keys.some((k) => k.startsWith('__')))
        throw new Unrepresentable('a record with a `__` key (Cedar JSON escape)');
      return recordFromJson(json as Record<string, unknown>, depth);
    }
    default:
      throw new Unrepresentable(`a ${typeof json}`);
  }
}

export function recordFromJson(json: Record<string, unknown>, depth = 0): CedarRecord {
  const out = new Map<string, Value>();
  for (const key of Object.keys(json)) {
    if (!isWellFormed(key)) throw new Unrepresentable('a key with a lone surrogate');
    out.set(key, fromCedarJson(json[key], depth + 1));
  }
  return out;
}

function extensionFromJson(extn: unknown): Value {
  if (extn === null || typeof extn !== 'object') throw new Unrepresentable('an extension value that is not an object');
  const { fn, arg } = extn as { fn?: unknown; arg?: unknown };
  if (Object.keys(extn).length !== 2 || typeof arg !== 'string')
    throw new Unrepresentable('an extension value not in { fn, arg } form');
  if (fn === 'decimal') return parseDecimal(arg) ?? unrepresentable(`decimal("${arg}")`);
  if (fn === 'ip') return parseIp(arg) ?? unrepresentable(`ip("${arg}")`);
  throw new Unrepresentable(`the extension function ${String(fn)}`);
}

function unrepresentable(what: string): never {
  throw new Unrepresentable(what);
}

/**
 * The entity store: attributes converted, ancestors closed transitively (Cedar computes the same
 * closure when it loads entities). Throws Unrepresentable when an entity holds a value the compiled
 * evaluator cannot represent; the whole set then stays on cedar-wasm.
 */
export function entityStore(entities: readonly EntityJson[]): EntityStore {
  const parents = new Map<string, string[]>();
  const partial = new Map<string, { attrs: CedarRecord; tags: CedarRecord }>();
  for (const e of entities) {
    const uid = entityFromUid(e.uid);
    if (partial.has(uid.key)) throw new Unrepresentable(`entity ${uid.type}::"${uid.id}" given twice`);
    const attrs = e.attrs ?? {};
    const tags = e.tags ?? {};
    if (typeof attrs !== 'object' || typeof tags !== 'object' || !Array.isArray(e.parents ?? []))
      throw new Unrepresentable('an entity of unexpected shape');
    partial.set(uid.key, {
      attrs: recordFromJson(attrs as Record<string, unknown>),
      tags: recordFromJson(tags as Record<string, unknown>),
    });
    parents.set(
      uid.key,
      (e.parents ?? []).map((p) => entityFromUid(p).key),
    );
  }
  const store = new Map<string, StoredEntity>();
  for (const [key, { attrs, tags }] of partial) store.set(key, { attrs, tags, ancestors: ancestorsOf(key, parents) });
  return store;
}

function ancestorsOf(key: string, parents: ReadonlyMap<string, string[]>): Set<string> {
  const found = new Set<string>();
  const todo = [...(parents.get(key) ?? [])];
  while (todo.length > 0) {
    const next = todo.pop()!;
    if (found.has(next)) continue;
    found.add(next);
    todo.push(...(parents.get(next) ?? []));
  }
  return found;
}
