// Every code example in README.md, CONTRIBUTING.md and docs/*.md runs, so none can rot.
// ```js blocks run as CommonJS, ```mjs as ES modules, ```ts are type-checked against the built
// package's types and then run as ES modules; each in a temporary directory where `continuous-tls`
// resolves to this repository, and each must exit 0 in time. ```sh blocks are not run, but every
// npm script they name must exist; ```cedar blocks must load as Cedar policies, ```json must parse.
// A fence in any other language fails: add a rule here first. CONTRIBUTING.md documents the markers.
import t from 'tap';
import { execFile } from 'node:child_process';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  existsSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import { cedarPolicy } from '../dist/index.js';
import { packagesUsed, programOf, readBlocks, where, type DocBlock } from './helpers/doc-examples';

const root = resolve(__dirname, '..');
const RUN_TIMEOUT_MS = 30_000;
/** Examples run two at a time: the machine running the suite may be small and busy. */
const CONCURRENCY = 2;
const RUNNABLE = new Set(['js', 'mjs', 'ts']);
const CHECKED = new Set(['sh', 'cedar', 'json']);

const documents = [
  'README.md',
  'CONTRIBUTING.md',
  'SECURITY.md',
  ...readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name)),
].filter((file) => existsSync(join(root, file)));
const blocks = documents.flatMap((file) => readBlocks(join(root, file), root));
const byName = new Map<string, DocBlock>();
for (const block of blocks) if (block.name !== undefined) byName.set(block.name, block);

t.test('every fence has a language this test knows', async (t) => {
  t.ok(blocks.length > 10, `${blocks.length} blocks in ${documents.join(', ')}`);
  for (const block of blocks) {
    t.ok(RUNNABLE.has(block.lang) || CHECKED.has(block.lang), `${where(block)}: fence language "${block.lang}"`);
  }
});

t.test('example names are unique and every "continues" marker names one', async (t) => {
  const seen = new Map<string, string>();
  for (const block of blocks) {
    if (block.name === undefined) continue;
    t.notOk(seen.has(block.name), `${where(block)}: "${block.name}" is also named at ${seen.get(block.name)}`);
    seen.set(block.name, where(block));
  }
  for (const block of blocks) {
    if (block.continues !== undefined) t.doesNotThrow(() => programOf(block, byName), where(block));
  }
});

t.test('every npm script a shell block names exists', async (t) => {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  const named = /\bnpm\s+(?:run(?:-script)?\s+([\w:.-]+)|(start|test)\b)/g;
  let count = 0;
  for (const block of blocks.filter((b) => b.lang === 'sh')) {
    for (const match of block.code.matchAll(named)) {
      const script = match[1] ?? match[2]!;
      count++;
      t.ok(Object.hasOwn(scripts, script), `${where(block)}: npm script "${script}"`);
    }
  }
  t.ok(count > 0, `${count} npm commands checked`);
});

t.test('every ```json block parses and every ```cedar block loads', async (t) => {
  for (const block of blocks.filter((b) => b.lang === 'json')) {
    t.doesNotThrow(() => JSON.parse(block.code), where(block));
  }
  for (const block of blocks.filter((b) => b.lang === 'cedar')) {
    t.doesNotThrow(() => cedarPolicy({ policies: block.code }).close(), where(block));
  }
});

t.test('every js, mjs and ts example runs and exits 0', async (t) => {
  const examples = blocks.filter((block) => RUNNABLE.has(block.lang));
  t.ok(examples.length > 5, `${examples.length} examples`);
  const dir = mkdtempSync(join(tmpdir(), 'ctls-docs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const programs = examples.map((block, index) => ({
    block,
    file: join(dir, fileName(block, index)),
    code: programOf(block, byName),
  }));
  linkPackages(
    dir,
    programs.map((p) => p.code),
  );

  const typeScript = programs.filter((p) => p.block.lang === 'ts');
  for (const program of programs) writeFileSync(program.file, program.code);
  for (const message of typeErrors(typeScript.map((p) => p.file))) t.fail(message);
  for (const program of typeScript) {
    const output = ts.transpileModule(program.code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    program.file = program.file.replace(/\.mts$/, '.mjs');
    writeFileSync(program.file, output);
  }

  const queue = [...programs];
  const worker = async (): Promise<void> => {
    for (let program = queue.shift(); program !== undefined; program = queue.shift()) {
      const result = await run(program.file, dir);
      t.equal(result.code, 0, `${where(program.block)} exits 0`, { output: result.output });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
});

function fileName(block: DocBlock, index: number): string {
  const base = `${String(index).padStart(2, '0')}-${block.name ?? block.file.replace(/[^\w]+/g, '-') + '-' + block.line}`;
  return `${base}.${{ js: 'cjs', mjs: 'mjs', ts: 'mts' }[block.lang]}`;
}

/** node_modules in the temporary directory: this package, and the repository's copy of any other one used. */
function linkPackages(dir: string, programs: string[]): void {
  const modules = join(dir, 'node_modules');
  mkdirSync(modules);
  symlinkSync(root, join(modules, 'continuous-tls'), 'dir');
  const others = new Set(programs.flatMap(packagesUsed));
  others.delete('continuous-tls');
  // The type checker wants Node's types next to the examples too.
  others.add('@types/node');
  for (const name of others) {
    mkdirSync(dirname(join(modules, name)), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), join(modules, name), 'dir');
  }
}

/** Type-checks the TypeScript examples together, as strict ES modules importing the built package. */
function typeErrors(files: string[]): string[] {
  if (files.length === 0) return [];
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file === undefined || d.start === undefined) return text;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName}:${line + 1}: ${text}`;
  });
}

/** Runs one example with a plain node, as a user would (no test loader), and collects its output. */
function run(file: string, cwd: string): Promise<{ code: number | null; output: string }> {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [file],
      { cwd, env, timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        const timedOut =
          error !== null && error.killed ? `\n(killed after ${RUN_TIMEOUT_MS} ms: did it close everything?)` : '';
        resolve({ code, output: `${stdout}${stderr}${timedOut}` });
      },
    );
  });
}

t.test('relative links and repository paths in the documents exist', async (t) => {
  for (const file of documents) {
    const text = stripCode(readFileSync(join(root, file), 'utf8'));
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^[a-z]+:/i.test(target)) continue;
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const resolved = path === '' ? join(root, file) : resolve(root, dirname(file), path);
      t.ok(existsSync(resolved), `${file}: link ${target}`);
      if (anchor !== undefined && resolved.endsWith('.md') && existsSync(resolved)) {
        t.ok(anchorsOf(readFileSync(resolved, 'utf8')).has(anchor), `${file}: anchor #${anchor} in ${path || file}`);
      }
    }
    for (const match of readFileSync(join(root, file), 'utf8').matchAll(
      /`((?:lib|native|test|bench|scripts)\/[\w./-]*\w)`/g,
    )) {
      t.ok(existsSync(join(root, match[1]!)), `${file}: path ${match[1]}`);
    }
  }
});

/** The text without fenced blocks (links inside code are code). */
function stripCode(markdown: string): string {
  return markdown.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1\s*$/gm, '');
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  for (const match of stripCode(markdown).matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    const slug = match[1]!
      .toLowerCase()
      .replace(/<[^>]+>/g, '')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = counts.get(slug) ?? 0;
    counts.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}
