/**
 * Which engine decides a Cedar request: the compiled evaluator (compile.ts) when the loaded
 * set allows it, cedar-wasm otherwise. The compiled engine answers what cedar-wasm would answer,
 * without a JSON round trip into wasm; every doubt sends the set or the request to cedar-wasm.
 */
import type { CedarValueJson, EntityJson, PolicyJson } from '@cedar-policy/cedar-wasm/nodejs';
import { CompiledPolicySet, Unsupported, compilePolicySet, type CompiledAnswer } from './compile.js';
import { Unrepresentable, entityFromUid, fromCedarJson, type CedarRecord } from './runtime.js';

export type CedarEngineOption = 'auto' | 'wasm';
export type CedarEngine = 'compiled' | 'wasm';

export interface CompileInput {
  /** Static policies in set order, with their JSON form (undefined if cedar-wasm gave none). */
  policies: ReadonlyArray<{ id: string; json: PolicyJson | undefined }>;
  templates: number;
  entities: readonly EntityJson[];
  schema: boolean;
}

/** The compiled set, or why the set stays on cedar-wasm. */
export function compileForEngine(input: CompileInput): { set: CompiledPolicySet } | { reason: string } {
  // With a schema, cedar-wasm parses the context and entities by the schema's types (and refuses
  // undeclared context attributes), which the compiled engine does not reproduce.
  if (input.schema) return { reason: 'a schema is loaded' };
  if (input.templates > 0) return { reason: 'the set has templates' };
  const policies: Array<{ id: string; json: PolicyJson }> = [];
  for (const { id, json } of input.policies) {
    if (json === undefined) return { reason: `no JSON form for policy ${id}` };
    policies.push({ id, json });
  }
  try {
    return { set: compilePolicySet(policies, input.entities) };
  } catch (err) {
    if (err instanceof Unsupported || err instanceof Unrepresentable) return { reason: err.message };
    // A policy nested deeper than the JS stack, or a shape this compiler never saw.
    return { reason: err instanceof Error ? err.message : String(err) };
  }
}

export interface RequestJson {
  principal: unknown;
  action: unknown;
  resource: unknown;
  /** The context as the compiled engine holds it (compiledContext). */
  context: CedarRecord;
}

/** The context in the compiled engine's values, or undefined when only cedar-wasm can hold it. */
export function compiledContext(json: Record<string, CedarValueJson>): CedarRecord | undefined {
  try {
    const context = fromCedarJson(json);
    return context instanceof Map ? context : undefined;
  } catch {
    // Unrepresentable, or a stack overflow on a deep context: never guess.
    return undefined;
  }
}

/** The compiled answer, or undefined when only cedar-wasm can decide this request. */
export function decideCompiled(set: CompiledPolicySet, request: RequestJson): CompiledAnswer | undefined {
  try {
    return set.decide({
      principal: entityFromUid(request.principal),
      action: entityFromUid(request.action),
      resource: entityFromUid(request.resource),
      context: request.context,
    });
  } catch {
    // Unrepresentable, or anything unforeseen: never guess.
    return undefined;
  }
}
