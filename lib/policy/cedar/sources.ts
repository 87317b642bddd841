/**
 * Where a Cedar policy set comes from: inline text, a file, or a directory (every `*.cedar` file in
 * name order, plus optional `entities.json` and a schema in `schema.cedarschema` or
 * `schema.cedarschema.json`); read whole, split into policies with stable ids.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs';
import { cedarError, diagnosticsOf, formatDiagnostic } from './values.js';
import { cedar } from './wasm.js';

/** The options that say where the policies are (CedarPolicyOptions' policies, file, dir …). */
export interface SourceOptions {
  policies?: string;
  file?: string;
  dir?: string;
  schema?: CedarWasm.Schema;
  entities?: CedarWasm.EntityJson[];
}

export interface Source {
  name: string;
  text: string;
}

export interface Sources {
  policies: Source[];
  schema?: CedarWasm.Schema;
  entities?: CedarWasm.EntityJson[];
  /** Everything read, to skip reloads that change nothing (watchers fire several times per write). */
  fingerprint: string;
}

const SCHEMA_TEXT = 'schema.cedarschema';
const SCHEMA_JSON = 'schema.cedarschema.json';
const ENTITIES = 'entities.json';

/** Whether a file of a watched policy directory is one the set is read from. */
export function isSourceFile(name: string): boolean {
  return name.endsWith('.cedar') || name === ENTITIES || name.startsWith('schema.');
}

/** Everything the set is made of, read now. */
export function readSources(o: SourceOptions): Sources {
  if (o.policies !== undefined) {
    return withOptional({ policies: [{ name: 'policies', text: o.policies }], fingerprint: o.policies }, o);
  }
  if (o.file !== undefined) {
    const text = readFileSync(o.file, 'utf8');
    return withOptional({ policies: [{ name: basename(o.file), text }], fingerprint: text }, o);
  }
  return readDir(o.dir!, o);
}

/**
 * Splits each source into its policies and gives every policy a stable id: its `@id("…")`
 * annotation, else `<source>#<n>` (or `policy<n>` for inline text, Cedar's own naming).
 */
export function splitPolicies(sources: Source[]): {
  set: CedarWasm.PolicySet;
  ids: string[];
  owner: Map<string, string>;
  /** Each static policy's JSON form, for the compiled engine. */
  json: Map<string, CedarWasm.PolicyJson>;
  templates: number;
} {
  const c = cedar();
  // Keyed by policy id, which the policy text chooses (@id): with no prototype, an id such as
  // "__proto__" is an entry like any other, not a write to the object's prototype.
  const staticPolicies = Object.create(null) as Record<string, string>;
  const templates = Object.create(null) as Record<string, string>;
  const owner = new Map<string, string>();
  const jsonForms = new Map<string, CedarWasm.PolicyJson>();
  for (const source of sources) {
    const parts = c.policySetTextToParts(source.text);
    if (parts.type === 'failure') {
      const diagnostics = diagnosticsOf(parts.errors, source.name, source.text);
      throw cedarError(
        `Cedar policies in ${source.name} are invalid: ${diagnostics.map(formatDiagnostic).join('; ')}`,
        diagnostics,
      );
    }
    const prefix = source.name === 'policies' ? 'policy' : `${source.name}#`;
    const add = (into: Record<string, string>, text: string, n: number): void => {
      const json = c.policyToJson(text);
      const id = (json.type === 'success' ? json.json.annotations?.['id'] : undefined) ?? `${prefix}${n}`;
      if (owner.has(id))
        throw cedarError(`Cedar policy id "${id}" is used twice`, [
          { source: source.name, policyId: id, message: 'duplicate policy id' },
        ]);
      owner.set(id, source.name);
      if (json.type === 'success' && into === staticPolicies) jsonForms.set(id, json.json);
      into[id] = text;
    };
    parts.policies.forEach((text, n) => add(staticPolicies, text, n));
    parts.policy_templates.forEach((text, n) => add(templates, text, n));
  }
  return {
    set: { staticPolicies, templates },
    ids: Object.keys(staticPolicies),
    owner,
    json: jsonForms,
    templates: Object.keys(templates).length,
  };
}

function readDir(dir: string, o: SourceOptions): Sources {
  const names = readdirSync(dir)
    .filter((n) => n.endsWith('.cedar'))
    .sort();
  const policies = names.map((name) => ({ name, text: readFileSync(join(dir, name), 'utf8') }));
  const sources: Sources = { policies, fingerprint: policies.map((p) => `${p.name}\0${p.text}`).join('\0') };
  const schemaText = readIfExists(join(dir, SCHEMA_TEXT));
  const schemaJson = readIfExists(join(dir, SCHEMA_JSON));
  const entitiesJson = readIfExists(join(dir, ENTITIES));
  if (schemaText !== undefined) sources.schema = schemaText;
  else if (schemaJson !== undefined) sources.schema = parseJson(schemaJson, SCHEMA_JSON) as CedarWasm.Schema;
  else if (o.schema !== undefined) sources.schema = o.schema;
  if (entitiesJson !== undefined) sources.entities = parseJson(entitiesJson, ENTITIES) as CedarWasm.EntityJson[];
  else if (o.entities !== undefined) sources.entities = o.entities;
  sources.fingerprint += `\0${schemaText ?? schemaJson ?? ''}\0${entitiesJson ?? ''}`;
  return sources;
}

function withOptional(sources: Sources, o: SourceOptions): Sources {
  if (o.schema !== undefined) sources.schema = o.schema;
  if (o.entities !== undefined) sources.entities = o.entities;
  return sources;
}

function readIfExists(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw cedarError(`${source} is not valid JSON`, [{ source, message: (err as Error).message }]);
  }
}
