/**
 * Which facts of an AuthorizationInput a loaded Cedar policy set can read, under the default
 * mapping (facts.ts): the input paths a decision cache must put in its key for a cached answer to
 * be the answer the policies would give (see CedarPolicy.factsRead).
 *
 * Paths are dotted property paths into the AuthorizationInput: 'request.path', 'token.sub',
 * 'connection.remoteAddress', 'peer.certificate.fingerprint256' (a property of the
 * X509Certificate), 'context.tenant' (the app's context). A path stands for the whole value found
 * there, absence included. The result is null when the set can read something that cannot be
 * bounded this way: the whole `context` record, or an operator this walk does not know.
 * `context.token.<claim>` reads the whole 'token'; the principal reads only 'token.sub'.
 *
 * Why several paths for one Cedar attribute: contextFacts() sets `context.method` from the request
 * when there is one and lets the app's `method` show through otherwise, so `context.method` reads
 * 'request.method' and 'context.method'. App context values are keyed by their top-level value
 * ('context.tenant'): one may be an entity reference whose attributes come from the entity store.
 */
import { nameTable } from '../facts.js';
import type { Expr, PolicyJson } from '@cedar-policy/cedar-wasm/nodejs';

/** The whole context record (or something unknown) is read: no finite set of paths covers it. */
class Unbounded {}

const PRINCIPAL = ['peer.certificate.subject', 'token.sub'];
const ACTION = ['action', 'request.method', 'trigger'];
const RESOURCE = ['resource', 'request.path'];

/** Context keys contextFacts() always sets: the app cannot show through them. (Null prototypes: an
 * attribute named 'constructor' or '__proto__' finds nothing in these tables.) */
const ALWAYS: Readonly<Record<string, string>> = nameTable({
  trigger: 'trigger',
  verified: 'peer.verified',
  reauthCount: 'connection.reauthCount',
  ageMs: 'connection.ageMs',
});

/** Context keys contextFacts() sets only when the input has them: else the app's key shows through. */
const SOMETIMES: Readonly<Record<string, string>> = nameTable({
  protocol: 'connection.protocol',
  remoteAddress: 'connection.remoteAddress',
  servername: 'connection.servername',
  method: 'request.method',
  path: 'request.path',
  signals: 'signals',
});

/** certificateFacts() key -> the X509Certificate property it comes from. */
const CERTIFICATE: Readonly<Record<string, string>> = nameTable({
  fingerprint: 'fingerprint256',
  serial: 'serialNumber',
  issuer: 'issuer',
  notAfter: 'validTo',
  subject: 'subject',
  altNames: 'subjectAltName',
});

/** A value that is a static attribute chain from `context` (`context.a.b`): not read yet as a whole. */
interface ContextChain {
  chain: string[];
}

type Ref = ContextChain | undefined;

/** The input paths `policies` can read, or null when they cannot be bounded. */
export function factsReadBy(policies: readonly PolicyJson[]): string[] | null {
  const out = new Set<string>();
  try {
    for (const policy of policies) {
      if (policy.principal.op !== 'All') PRINCIPAL.forEach((p) => out.add(p));
      if (policy.action.op !== 'All') ACTION.forEach((p) => out.add(p));
      if (policy.resource.op !== 'All') RESOURCE.forEach((p) => out.add(p));
      for (const clause of policy.conditions ?? []) use(walk(clause.body, out), out);
    }
  } catch (err) {
    if (err instanceof Unbounded) return null;
    throw err;
  }
  return [...out].sort();
}

/** Records what evaluating `expr` reads; a context chain is returned unread, for `.` and `has` to extend. */
function walk(expr: Expr, out: Set<string>): Ref {
  if (expr === null || typeof expr !== 'object') throw new Unbounded();
  const keys = Object.keys(expr);
  if (keys.length !== 1) throw new Unbounded();
  const op = keys[0]!;
  const node = (expr as Record<string, unknown>)[op];
  switch (op) {
    case 'Value':
      return undefined;
    case 'Var':
      if (node === 'context') return { chain: [] };
      if (node === 'principal') PRINCIPAL.forEach((p) => out.add(p));
      else if (node === 'action') ACTION.forEach((p) => out.add(p));
      else if (node === 'resource') RESOURCE.forEach((p) => out.add(p));
      else throw new Unbounded();
      return undefined;
    case '.': {
      const { left, attr } = node as { left: Expr; attr: unknown };
      const of = walk(left, out);
      if (typeof attr !== 'string') throw new Unbounded();
      return of === undefined ? undefined : { chain: [...of.chain, attr] };
    }
    case 'has': {
      const { left, attr } = node as { left: Expr; attr: unknown };
      const of = walk(left, out);
      const path = typeof attr === 'string' ? [attr] : attr;
      if (!Array.isArray(path) || !path.every((a) => typeof a === 'string')) throw new Unbounded();
      if (of !== undefined) use({ chain: [...of.chain, ...(path as string[])] }, out);
      return undefined;
    }
    case 'Set':
      if (!Array.isArray(node)) throw new Unbounded();
      for (const item of node) use(walk(item as Expr, out), out);
      return undefined;
    case 'Record':
      if (node === null || typeof node !== 'object') throw new Unbounded();
      for (const item of Object.values(node as Record<string, Expr>)) use(walk(item, out), out);
      return undefined;
    default: {
      // Every other operator (binary, unary, like, is, if-then-else, extension calls) reads its
      // operands as whole values.
      const operands = operandsOf(node);
      for (const operand of operands) use(walk(operand, out), out);
      return undefined;
    }
  }
}

function operandsOf(node: unknown): Expr[] {
  if (Array.isArray(node)) return node as Expr[];
  if (node === null || typeof node !== 'object') throw new Unbounded();
  const out: Expr[] = [];
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    // `like` patterns and `is` types are literals, not expressions.
    if (key === 'pattern' || key === 'entity_type') continue;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Unbounded();
    out.push(value as Expr);
  }
  return out;
}

/** A context chain read as a value: the input paths it comes from. */
function use(ref: Ref, out: Set<string>): void {
  if (ref === undefined) return;
  const [key, next] = ref.chain;
  if (key === undefined) throw new Unbounded();
  const always = ALWAYS[key];
  if (always !== undefined) {
    out.add(always);
    return;
  }
  // A dotted input path cannot name an attribute with a dot in it (`context["tenant.id"]`): such
  // an attribute can only be the app's, so the path is its whole context.
  if (key.includes('.')) {
    out.add('context');
    return;
  }
  out.add(`context.${key}`);
  const sometimes = SOMETIMES[key];
  if (sometimes !== undefined) out.add(sometimes);
  // Whole: a present token without the claim and an absent token (letting the app's `token` show
  // through) read alike at 'token.<claim>' but not in Cedar.
  else if (key === 'token') out.add('token');
  else if (key === 'certificate') {
    // The fingerprint determines every fact of the certificate, its presence included.
    out.add(`peer.certificate.${(next !== undefined ? CERTIFICATE[next] : undefined) ?? 'fingerprint256'}`);
  }
}
