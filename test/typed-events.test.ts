// The emitters' events are typed: test/types/typed-events.ts compiles with no error, so every
// `@ts-expect-error` in it met the error it expects (a wrong listener, a misspelled event) and every
// right listener was accepted. Compiled here too, so that `tap` alone catches a regression.
import t from 'tap';
import ts from 'typescript';
import { resolve } from 'node:path';

t.test("listeners are checked against each emitter's events", async (t) => {
  const file = resolve(__dirname, 'types', 'typed-events.ts');
  const host = {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic: ts.Diagnostic) =>
      t.fail(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')),
  };
  const config = ts.getParsedCommandLineOfConfigFile(resolve(__dirname, 'tsconfig.json'), {}, host);
  t.ok(config, 'test/tsconfig.json is read');
  const program = ts.createProgram([file], { ...config!.options, noEmit: true });
  const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) =>
    ts.formatDiagnostic(diagnostic, {
      getCanonicalFileName: (name) => name,
      getCurrentDirectory: () => __dirname,
      getNewLine: () => '\n',
    }),
  );
  t.same(problems, [], 'no type error, and no @ts-expect-error left without its error');
  const expected = ts.sys.readFile(file)!.match(/@ts-expect-error/g)?.length ?? 0;
  t.ok(expected >= 8, 'the wrong listeners are there to be refused');
});
