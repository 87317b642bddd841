/**
 * The `continuous-tls` command line: usage texts and flags -> typed options. Every mistake is a
 * UsageError that says what was wrong (naming the flag and the value given); the command prints it
 * with the usage and exits 2. Running anything is cli.ts's job.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { PdpLimits, PdpServerOptions } from './pdp-server.js';

export const USAGE = `Usage: continuous-tls <command> [options]

Commands:
  pdp --policies <dir> [--token-file F | --ca F …]   AuthZEN decision endpoint over Cedar policies (hot reload)
  demo [options]                                   run the continuous-authorization demo
  inspect <url> [--token T | --token-file F]       print the live connections an inspectHandler() serves
  fleet revoke|status --redis URL …                revoke across a fleet (Redis Streams), or show its members
  ssf-transmit --receiver URL --audience AUD …     (development) push a signed CAEP event to a receiver

Options:
  -h, --help     show this help
  -v, --version  print the version

Run "continuous-tls <command> --help" for a command's options.
`;

export const PDP_USAGE =
  'Usage: continuous-tls pdp --policies <dir> [--port N] [--host H] [--key F --cert F [--ca F [--crl F]]]\n' +
  `                          [--token-file F] [--insecure-open] [--max-evaluations N] [--max-body-bytes N]

A stateless OpenID AuthZEN decision endpoint over the Cedar policies in <dir> (every *.cedar file,
optional entities.json and schema.cedarschema). Reloads the directory when it changes; an invalid
change is reported and the previous policies stay in force. --key/--cert serve HTTPS; --ca also
requires client certificates issued by that CA, re-checked at their expiry and against --crl for
as long as a caller's connection lives.

Callers must authenticate: with a client certificate (--ca), with a bearer token
(--token-file: one token per line, at least 16 characters; or the CONTINUOUS_TLS_PDP_TOKEN
environment variable), or both. --insecure-open serves anyone who can reach the port: they learn
every decision and its reasons. GET /healthz (the process is up) and /readyz (503 while the last
reload failed) answer without authentication and say nothing about the policies.
`;

export const INSPECT_USAGE = `Usage: continuous-tls inspect <url> [--token T | --token-file F]
                              [--ca F] [--cert F --key F] [--timeout MS]

Fetches the live connections of a server or attachment from the URL where the application serves
inspectHandler(), and prints them as JSON: for each connection its peer, current decision, expiry
and next re-check. The bearer token comes from --token, --token-file (its first line) or the
CONTINUOUS_TLS_INSPECT_TOKEN environment variable; --token is visible to other users of this
machine in the process list, the other two are not. For an https:// URL, --ca trusts that CA and
--cert/--key present a client certificate. --timeout (default 10000) bounds the whole request.
`;

export const DEMO_USAGE = `Usage: continuous-tls demo [--quiet]
Runs the continuous-authorization story on loopback; exits 0 when it completes as expected.
`;

/** A command line the command cannot run: the message says what was wrong. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The `pdp` command line, parsed: its help, or the options of startPdpServer(). */
export type PdpCommand = { help: true } | { help: false; options: PdpServerOptions };

/** What `inspect` needs to fetch a report. */
export interface InspectCommandOptions {
  url: URL;
  token?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  timeoutMs: number;
}

/** The `inspect` command line, parsed. */
export type InspectCommand = { help: true } | { help: false; options: InspectCommandOptions };

/** The `demo` command line, parsed. */
export type DemoCommand = { help: true } | { help: false; quiet: boolean };

type ParseOptions = NonNullable<Parameters<typeof parseArgs>[0]>['options'];
type Flags = Record<string, string | boolean | undefined>;

const PDP_FLAGS: ParseOptions = {
  policies: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  key: { type: 'string' },
  cert: { type: 'string' },
  ca: { type: 'string' },
  crl: { type: 'string' },
  'token-file': { type: 'string' },
  'insecure-open': { type: 'boolean' },
  'max-evaluations': { type: 'string' },
  'max-body-bytes': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const INSPECT_FLAGS: ParseOptions = {
  token: { type: 'string' },
  'token-file': { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

const DEMO_FLAGS: ParseOptions = { quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } };

/**
 * `pdp` flags -> startPdpServer() options. Reads the files the flags name (key, certificates,
 * CRL, tokens) and the CONTINUOUS_TLS_PDP_TOKEN variable of `env`.
 */
export function parsePdpArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): PdpCommand {
  const values = flags(argv, PDP_FLAGS);
  if (values['help'] === true) return { help: true };
  const text = (flag: string): string | undefined => values[flag] as string | undefined;
  const policies = text('policies');
  if (policies === undefined) throw new UsageError('--policies <dir> is required');
  if ((text('key') === undefined) !== (text('cert') === undefined))
    throw new UsageError('--key and --cert go together');
  if (text('ca') !== undefined && text('key') === undefined)
    throw new UsageError('--ca needs --key and --cert (mTLS is served over HTTPS)');
  if (text('crl') !== undefined && text('ca') === undefined)
    throw new UsageError('--crl needs --ca (it revokes client certificates)');
  const options: PdpServerOptions = { policies, port: integer(values, 'port', 0, 65535) ?? 0 };
  const host = text('host');
  if (host !== undefined) options.host = host;
  const key = text('key');
  const cert = text('cert');
  if (key !== undefined && cert !== undefined) {
    options.tls = { key: readFlagFile('key', key), cert: readFlagFile('cert', cert) };
    const ca = text('ca');
    const crl = text('crl');
    if (ca !== undefined) options.tls.ca = readFlagFile('ca', ca);
    if (crl !== undefined) options.tls.crl = readFlagFile('crl', crl);
  }
  const tokens: string[] = [];
  const tokenFile = text('token-file');
  if (tokenFile !== undefined) {
    tokens.push(
      ...readFlagFile('token-file', tokenFile)
        .toString('utf8')
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== ''),
    );
    if (tokens.length === 0) throw new UsageError(`--token-file ${tokenFile} holds no token`);
  }
  const fromEnv = env['CONTINUOUS_TLS_PDP_TOKEN'];
  if (fromEnv !== undefined && fromEnv !== '') tokens.push(fromEnv);
  if (tokens.length > 0) options.tokens = tokens;
  if (values['insecure-open'] === true) options.insecureOpen = true;
  const limits: PdpLimits = {};
  const maxEvaluations = integer(values, 'max-evaluations', 1);
  const maxBodyBytes = integer(values, 'max-body-bytes', 1);
  if (maxEvaluations !== undefined) limits.maxEvaluations = maxEvaluations;
  if (maxBodyBytes !== undefined) limits.maxBodyBytes = maxBodyBytes;
  options.limits = limits;
  return { help: false, options };
}

/**
 * `inspect` flags -> what to fetch. Reads the files the flags name and the
 * CONTINUOUS_TLS_INSPECT_TOKEN variable of `env`.
 */
export function parseInspectArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): InspectCommand {
  const { values, positionals } = flagsAndArguments(argv, INSPECT_FLAGS);
  if (values['help'] === true) return { help: true };
  const text = (flag: string): string | undefined => values[flag] as string | undefined;
  if (positionals.length === 0) throw new UsageError('<url> is required');
  if (positionals.length > 1) throw new UsageError(`unexpected argument '${positionals[1]!}' (one <url> only)`);
  const url = parseUrl(positionals[0]!);
  if (text('token') !== undefined && text('token-file') !== undefined)
    throw new UsageError('--token and --token-file are alternatives: give one');
  if ((text('key') === undefined) !== (text('cert') === undefined))
    throw new UsageError('--key and --cert go together');
  const tls = ['ca', 'cert'].find((flag) => text(flag) !== undefined);
  if (tls !== undefined && url.protocol !== 'https:')
    throw new UsageError(`--${tls} needs an https:// URL (got ${url.protocol}//)`);
  const options: InspectCommandOptions = { url, timeoutMs: integer(values, 'timeout', 1) ?? 10_000 };
  const token =
    text('token') ?? tokenFromFile(text('token-file')) ?? (env['CONTINUOUS_TLS_INSPECT_TOKEN'] || undefined);
  if (token !== undefined) {
    if (!/^[\x21-\x7e]+$/.test(token))
      throw new UsageError('the token must be visible ASCII characters, without spaces');
    options.token = token;
  }
  for (const flag of ['ca', 'cert', 'key'] as const) {
    const path = text(flag);
    if (path !== undefined) options[flag] = readFlagFile(flag, path);
  }
  return { help: false, options };
}

function parseUrl(given: string): URL {
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new UsageError(`<url> must be an http:// or https:// URL (got '${given}')`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`<url> must be an http:// or https:// URL (got '${given}')`);
  if (url.username !== '' || url.password !== '')
    throw new UsageError('<url> must not carry credentials: use --token or --token-file');
  return url;
}

function tokenFromFile(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const line = readFlagFile('token-file', path)
    .toString('utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l !== '');
  if (line === undefined) throw new UsageError(`--token-file ${path} holds no token`);
  return line;
}

export function parseDemoArgs(argv: string[]): DemoCommand {
  const values = flags(argv, DEMO_FLAGS);
  return values['help'] === true ? { help: true } : { help: false, quiet: values['quiet'] === true };
}

/** The version in the package's package.json (two levels above dist/dev/). */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    version?: unknown;
  };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}

/** parseArgs, with its errors reworded to name the flag or argument at fault. */
function flags(argv: string[], options: ParseOptions): Flags {
  return parse(argv, options, false).values;
}

/** As flags(), for a command that also takes arguments. */
function flagsAndArguments(argv: string[], options: ParseOptions): { values: Flags; positionals: string[] } {
  return parse(argv, options, true);
}

function parse(
  argv: string[],
  options: ParseOptions,
  allowPositionals: boolean,
): { values: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals });
    return { values: values as Flags, positionals };
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${quoted}`);
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument '${quoted}'`);
    // A string flag without its value, or a boolean flag given one (--flag=value).
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = /(-[\w-]+)/.exec(quoted)?.[1] ?? quoted;
      throw new UsageError(/argument missing/.test(message) ? `${flag} needs a value` : `${flag} takes no value`);
    }
    throw new UsageError(message);
  }
}

/** A whole-number flag in [min, max]: digits only, so '1e3', '0x10' and '' are refused. */
function integer(values: Flags, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const given = values[flag];
  if (given === undefined) return undefined;
  const n = Number(given);
  if (typeof given !== 'string' || !/^[0-9]+$/.test(given) || !(n >= min && n <= max)) {
    const range =
      max === Number.MAX_SAFE_INTEGER
        ? min === 1
          ? 'a positive integer'
          : `an integer >= ${min}`
        : `an integer ${min}-${max}`;
    throw new UsageError(`--${flag} must be ${range} (got '${String(given)}')`);
  }
  return n;
}

function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(
      `--${flag} ${path} could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
}
