#!/usr/bin/env node
/**
 * The `continuous-tls` command. Subcommands load lazily so `pdp` does not pay for the demo's
 * dependencies and the other way round. Exit codes: 0 done, 1 the command failed, 2 a bad command
 * line (the error and the usage go to stderr).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEMO_USAGE,
  INSPECT_USAGE,
  PDP_USAGE,
  USAGE,
  UsageError,
  packageVersion,
  parseDemoArgs,
  parseInspectArgs,
  parsePdpArgs,
  type InspectCommandOptions,
} from './cli-args.js';
import type { PdpServer, PdpServerOptions } from './pdp-server.js';

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'pdp':
      return runPdpCommand(rest);
    case 'demo':
      return runDemoCommand(rest);
    case 'inspect':
      return runInspectCommand(rest);
    case 'fleet':
      return (await import('./fleet-cli.js')).runFleetCommand(rest);
    case 'ssf-transmit':
      return (await import('./ssf-cli.js')).ssfTransmitCommand(rest);
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case '-v':
    case '--version':
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    case undefined:
      process.stderr.write(USAGE);
      return 2;
    default:
      process.stderr.write(
        `${command.startsWith('-') ? `Unknown flag "${command}"` : `Unknown command "${command}"`}.\n\n${USAGE}`,
      );
      return 2;
  }
}

/** Prints a command-line mistake with the command's usage: exit code 2. */
function usageError(command: string, err: unknown, usage: string): number {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`continuous-tls ${command}: ${err.message}\n\n${usage}`);
  return 2;
}

/** `pdp`: serves until SIGINT or SIGTERM, then resolves with the exit code. */
async function runPdpCommand(argv: string[]): Promise<number> {
  let options: PdpServerOptions;
  try {
    const parsed = parsePdpArgs(argv);
    if (parsed.help) {
      process.stdout.write(PDP_USAGE);
      return 0;
    }
    options = parsed.options;
  } catch (err) {
    return usageError('pdp', err, PDP_USAGE);
  }
  options.log = (line) => process.stderr.write(`pdp: ${line}\n`);
  const { startPdpServer } = await import('./pdp-server.js');
  let server: PdpServer;
  try {
    server = await startPdpServer(options);
  } catch (err) {
    process.stderr.write(`pdp: ${(err as Error).message}\n`);
    return 1;
  }
  const auth = [options.tls?.ca !== undefined && 'client certificate', options.tokens !== undefined && 'bearer token']
    .filter(Boolean)
    .join(' + ');
  if (options.insecureOpen && auth === '') {
    process.stderr.write(
      `pdp: WARNING: --insecure-open: no authentication. Anyone who can reach ${server.url} ` +
        'learns every decision and its reasons.\n',
    );
  }
  process.stdout.write(
    `continuous-tls pdp listening on ${server.url} ` +
      `(${server.policy.policyIds.length} policies, authentication: ${auth || 'NONE'})\n`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

/** `inspect`: prints the report as JSON on stdout, or what went wrong on stderr (exit 1). */
async function runInspectCommand(argv: string[]): Promise<number> {
  let options: InspectCommandOptions;
  try {
    const parsed = parseInspectArgs(argv);
    if (parsed.help) {
      process.stdout.write(INSPECT_USAGE);
      return 0;
    }
    options = parsed.options;
  } catch (err) {
    return usageError('inspect', err, INSPECT_USAGE);
  }
  const { url, token } = options;
  if (token !== undefined && url.protocol === 'http:' && !isLoopback(url.hostname)) {
    process.stderr.write(`inspect: WARNING: the token goes to ${url.host} unencrypted (http://)\n`);
  }
  const { InspectFetchError, fetchInspectReport } = await import('./inspect-fetch.js');
  try {
    const report = await fetchInspectReport(options);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof InspectFetchError)) throw err;
    process.stderr.write(`continuous-tls inspect: ${err.message}\n`);
    return 1;
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
}

async function runDemoCommand(argv: string[]): Promise<number> {
  let quiet: boolean;
  try {
    const parsed = parseDemoArgs(argv);
    if (parsed.help) {
      process.stdout.write(DEMO_USAGE);
      return 0;
    }
    quiet = parsed.quiet;
  } catch (err) {
    return usageError('demo', err, DEMO_USAGE);
  }
  if (!existsSync(join(__dirname, 'demo.js'))) {
    process.stderr.write('continuous-tls demo: this build has no demo (dist/dev/demo.js is missing).\n');
    return 1;
  }
  const demo = require('./demo.js') as { runDemo?: (options: { quiet?: boolean }) => unknown };
  if (typeof demo.runDemo !== 'function') {
    process.stderr.write('continuous-tls demo: dist/dev/demo.js does not export runDemo.\n');
    return 1;
  }
  const code = await demo.runDemo({ quiet });
  return typeof code === 'number' ? code : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`continuous-tls: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
