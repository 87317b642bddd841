// The layering of lib/, read from the source: each directory is one layer and
// may only import from the layers below it, and no module graph has a cycle.
// Type-only imports count too: a type from a higher layer is still a dependency.
import t from 'tap';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const lib = resolve(__dirname, '..', 'lib');

/** Which layers each layer may import from (besides itself). Entry points at the top level may import anything. */
const allowed: Record<string, string[]> = {
  common: [],
  tls: ['common'],
  policy: ['common'],
  authz: ['common', 'tls', 'policy'],
  http: ['common', 'tls', 'policy', 'authz'],
  fleet: ['common', 'tls', 'policy', 'authz', 'http'],
  dev: ['common', 'tls', 'policy', 'authz', 'http', 'fleet', '.'],
  '.': ['common', 'tls', 'policy', 'authz', 'http', 'fleet', 'dev'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

const specifier =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(specifier)) {
    const spec = match[1] ?? match[2];
    if (spec === undefined) continue;
    found.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return found;
}

/** The layer of a module: its first directory under lib/ ('.' for the entry points). */
function layerOf(file: string): string {
  const parts = relative(lib, file).split(/[\\/]/);
  return parts.length === 1 ? '.' : parts[0]!;
}

const files = sources(lib);
const graph = new Map(files.map((file) => [file, importsOf(file)]));

t.test('every import resolves to a module in lib/', async (t) => {
  for (const [file, targets] of graph) {
    for (const target of targets) t.ok(graph.has(target), `${relative(lib, file)} imports ${relative(lib, target)}`);
  }
});

function violationsIn(graph: Map<string, string[]>): string[] {
  const violations: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    const may = allowed[from];
    if (may === undefined) {
      violations.push(`${relative(lib, file)}: unknown layer '${from}'`);
      continue;
    }
    for (const target of targets) {
      const to = layerOf(target);
      if (to !== from && !may.includes(to))
        violations.push(`${relative(lib, file)} (${from}) imports ${relative(lib, target)} (${to})`);
    }
  }
  return violations;
}

function cyclesIn(graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(lib, f)).join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  return cycles;
}

t.test('each layer imports only from the layers below it', async (t) => {
  t.ok(files.length > 20, 'the source tree was found');
  t.same(violationsIn(graph), []);
});

t.test('no import cycles', async (t) => {
  t.same(cyclesIn(graph), []);
});

t.test('the checks catch what they are for', async (t) => {
  // Guards against a pattern that silently matches nothing.
  const socket = join(lib, 'tls', 'socket.ts');
  t.ok(
    (graph.get(socket) ?? []).some((target) => layerOf(target) === 'common'),
    'tls/socket.ts is seen importing common/',
  );
  const a = join(lib, 'tls', 'a.ts');
  const b = join(lib, 'authz', 'b.ts');
  const c = join(lib, 'authz', 'c.ts');
  const synthetic = new Map([
    [a, [b]],
    [b, [c]],
    [c, [b]],
  ]);
  t.same(violationsIn(synthetic), ['tls/a.ts (tls) imports authz/b.ts (authz)']);
  t.same(cyclesIn(synthetic), ['authz/b.ts -> authz/c.ts -> authz/b.ts']);
});
