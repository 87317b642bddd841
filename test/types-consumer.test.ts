// The shipped declarations as a user's compiler sees them: the packed package (its "files" and
// "exports" exactly) installed into a CommonJS app and an ES module app, each compiled with
// `strict`, `skipLibCheck: false` and `module: nodenext` against @types/node 20, 22 and 24.
// The programs in test/fixtures/consumers/ cover TypeScript (.ts, .cts, .mts) and checked
// JavaScript (.cjs, .mjs), including `@ts-expect-error` lines that fail if a typing loosens.
import t from 'tap';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(__dirname, '..');
const fixtures = join(__dirname, 'fixtures', 'consumers');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const TYPES = { '20': '@types/node', '22': '@types/node22', '24': '@types/node24' } as const;

function exec(file: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: 120_000, encoding: 'utf8', maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, output: stdout + stderr });
    });
  });
}

const work = mkdtempSync(join(tmpdir(), 'ctls-consumers-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

let packed: string;
t.before(async () => {
  // --ignore-scripts: dist/ is already built by `npm test`'s pretest; pack only selects the files.
  const result = await exec('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], root);
  if (result.code !== 0) throw new Error(`npm pack failed: ${result.output}`);
  const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
  if (tarball === undefined) throw new Error('npm pack wrote no tarball');
  const extracted = join(work, 'extracted');
  mkdirSync(extracted);
  const untar = await exec('tar', ['xzf', join(work, tarball), '-C', extracted], work);
  if (untar.code !== 0) throw new Error(untar.output);
  packed = join(extracted, 'package');
});

/** An app directory whose node_modules holds the packed package, its dependencies and one @types/node. */
function makeApp(kind: 'commonjs' | 'module', nodeTypes: keyof typeof TYPES): string {
  const app = join(work, `${kind}-${nodeTypes}`);
  const modules = join(app, 'node_modules');
  mkdirSync(join(modules, '@types'), { recursive: true });
  // A copy, not a symlink: the compiler resolves the package's own imports from where it sits.
  cpSync(packed, join(modules, 'continuous-tls'), { recursive: true });
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  for (const dependency of Object.keys(manifest.dependencies)) {
    const scope = dependency.startsWith('@') ? dependency.split('/')[0]! : undefined;
    if (scope !== undefined) mkdirSync(join(modules, scope), { recursive: true });
    symlinkSync(join(root, 'node_modules', dependency), join(modules, dependency), 'dir');
  }
  symlinkSync(join(root, 'node_modules', TYPES[nodeTypes]), join(modules, '@types', 'node'), 'dir');
  const sources = kind === 'commonjs' ? ['app.ts', 'app.cts', 'app.cjs'] : ['app.ts', 'app.mts', 'app.mjs'];
  for (const source of sources) cpSync(join(fixtures, source), join(app, source));
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: `consumer-${kind}`, private: true, type: kind }));
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib: ['es2022'],
        types: ['node'],
        allowJs: true,
        checkJs: true,
        noEmit: true,
      },
      files: sources,
    }),
  );
  return app;
}

for (const nodeTypes of Object.keys(TYPES) as Array<keyof typeof TYPES>) {
  for (const kind of ['commonjs', 'module'] as const) {
    t.test(`a ${kind} app compiles against @types/node ${nodeTypes}`, async (t) => {
      const app = makeApp(kind, nodeTypes);
      const result = await exec(process.execPath, [tsc, '-p', app], app);
      t.equal(result.code, 0, 'tsc reports no error', { output: result.output.split(work).join('<app>') });
    });
  }
}
