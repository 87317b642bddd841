// `req.authorization` is typed in Express and Fastify apps that opt in through
// continuous-tls/http/express and /http/fastify (test/types/http-frameworks.ts compiles with no
// error, so every `@ts-expect-error` in it met its error), and the other entries' declarations
// never name Express or Fastify, so apps without them need none of their types.
import t from 'tap';
import ts from 'typescript';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

t.test('an Express handler and a Fastify route read req.authorization with its type', async (t) => {
  const file = resolve(__dirname, 'types', 'http-frameworks.ts');
  const host = {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic: ts.Diagnostic) =>
      t.fail(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')),
  };
  const config = ts.getParsedCommandLineOfConfigFile(resolve(__dirname, 'tsconfig.json'), {}, host);
  t.ok(config, 'test/tsconfig.json is read');
  // The file alone, without lib/: the augmentations come from the built package's entries.
  const program = ts.createProgram([file], { ...config!.options, noEmit: true });
  const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) =>
    ts.formatDiagnostic(diagnostic, {
      getCanonicalFileName: (name) => name,
      getCurrentDirectory: () => __dirname,
      getNewLine: () => '\n',
    }),
  );
  t.same(problems, [], 'no type error, and no @ts-expect-error left without its error');
  t.ok((ts.sys.readFile(file)!.match(/@ts-expect-error/g)?.length ?? 0) >= 3, 'the wrong uses are there to be refused');
  const sources = program.getSourceFiles().map((f) => f.fileName);
  t.ok(
    sources.some((name) => name.endsWith('dist/http/types/express.d.ts')),
    'resolved through the package exports',
  );
});

t.test('no other declaration file names Express or Fastify', async (t) => {
  const dist = resolve(__dirname, '..', 'dist');
  const declarations = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return path === join(dist, 'http', 'types') ? [] : declarations(path);
      return /\.d\.m?ts$/.test(name) ? [path] : [];
    });
  const files = declarations(dist);
  t.ok(files.length > 20, 'the declarations are built');
  for (const file of files) {
    t.notMatch(
      readFileSync(file, 'utf8'),
      /['"](?:express|express-serve-static-core|fastify)['"]/,
      relative(dist, file),
    );
  }
});
