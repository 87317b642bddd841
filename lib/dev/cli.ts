#!/usr/bin/env node
/**
 * The `continuous-tls` command. Subcommands load lazily so `pdp` does not pay for the demo's
 * dependencies and the other way round.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const USAGE = `Usage: continuous-tls <command> [options]

Commands:
  pdp --policies <dir> [--token-file F | --ca F …]   AuthZEN decision endpoint over Cedar policies (hot reload)
  demo [options]                                   run the continuous-authorization demo

Run "continuous-tls <command> --help" for a command's options.
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'pdp': {
      const { runPdpCommand } = await import('./pdp-server.js');
      return runPdpCommand(rest);
    }
    case 'demo':
      return runDemoCommand(rest);
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(command === undefined ? USAGE : `Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

async function runDemoCommand(argv: string[]): Promise<number> {
  if (!existsSync(join(__dirname, 'demo.js'))) {
    process.stderr.write('continuous-tls demo: this build has no demo (dist/demo.js is missing).\n');
    return 1;
  }
  const demo = require('./demo.js') as { runDemo?: (argv: string[]) => unknown };
  if (typeof demo.runDemo !== 'function') {
    process.stderr.write('continuous-tls demo: dist/demo.js does not export runDemo.\n');
    return 1;
  }
  const code = await demo.runDemo(argv);
  return typeof code === 'number' ? code : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`continuous-tls: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
