/**
 * `continuous-tls fleet`: operators' access to a fleet's feed without joining it.
 *   fleet revoke   publishes one revocation (a serial, a CRL file, a subject's email) and prints its id
 *   fleet status   prints the members (lag behind the head, last seen), the last event, the state's size
 * Exit codes as the other commands: 0 done, 1 the feed could not be reached, 2 a bad command line.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { UsageError } from './cli-args.js';
import { checkEvent, stateOps } from '../fleet/events.js';
import { publishOnce, readReport, type FeedReport } from '../fleet/feed.js';
import type { FleetEvent } from '../fleet/types.js';

export const FLEET_USAGE = `Usage: continuous-tls fleet revoke --redis URL [--name N]
                              (--serial HEX [--issuer DN] | --crl FILE | --subject-email ADDR)
                              [--reason TEXT] [--timeout MS]
       continuous-tls fleet status --redis URL [--name N] [--json] [--timeout MS]

revoke publishes one event on the fleet's feed; every member applies it and re-decides the
connections it affects. --serial revokes a certificate (hex, colons allowed) under any issuer, or
only under --issuer (the issuer's name as node prints it, one attribute per line, or in OpenSSL's
slash form '/O=Example/CN=Example CA'). --crl shares a CRL file with every member. --subject-email
revokes every session of that subject established until now. Prints the entry's id.

status prints the fleet's members (how many entries each is behind, when it was last seen), the
last event and how many serials, subjects and CRLs the fleet holds; --json prints it as JSON.

--redis takes a redis:// or rediss:// URL (or the CONTINUOUS_TLS_FLEET_REDIS environment variable,
which keeps a password out of the process list). --name defaults to 'default'.
`;

const FLAGS = {
  redis: { type: 'string' },
  name: { type: 'string' },
  serial: { type: 'string' },
  issuer: { type: 'string' },
  crl: { type: 'string' },
  'subject-email': { type: 'string' },
  reason: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = Partial<Record<keyof typeof FLAGS, string | boolean>>;

export type FleetCommand =
  | { help: true }
  | { help: false; action: 'revoke'; redis: string; name: string; event: FleetEvent; timeoutMs: number }
  | { help: false; action: 'status'; redis: string; name: string; json: boolean; timeoutMs: number };

/** `fleet` arguments -> what to do; every mistake is a UsageError naming the flag. */
export function parseFleetArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): FleetCommand {
  const { values, positionals } = parse(argv);
  if (values.help === true) return { help: true };
  const [action, extra] = positionals;
  if (action === undefined) throw new UsageError('a subcommand is required: revoke or status');
  if (action !== 'revoke' && action !== 'status') throw new UsageError(`unknown subcommand '${action}'`);
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  const text = (flag: keyof typeof FLAGS): string | undefined => values[flag] as string | undefined;
  const redis = text('redis') ?? (env['CONTINUOUS_TLS_FLEET_REDIS'] || undefined);
  if (redis === undefined) throw new UsageError('--redis URL is required');
  if (!/^rediss?:\/\//.test(redis)) throw new UsageError('--redis must be a redis:// or rediss:// URL');
  const name = text('name') ?? 'default';
  if (!/^[A-Za-z0-9._:-]{1,100}$/.test(name))
    throw new UsageError(`--name must be letters, digits and . _ : - (got '${name}')`);
  const timeout = text('timeout');
  if (timeout !== undefined && !/^[1-9][0-9]{0,6}$/.test(timeout))
    throw new UsageError(`--timeout must be a positive integer of ms (got '${timeout}')`);
  const timeoutMs = timeout === undefined ? 10_000 : Number(timeout);
  if (action === 'status') {
    for (const flag of ['serial', 'issuer', 'crl', 'subject-email', 'reason'] as const)
      if (values[flag] !== undefined) throw new UsageError(`--${flag} is for fleet revoke`);
    return { help: false, action, redis, name, json: values.json === true, timeoutMs };
  }
  if (values.json !== undefined) throw new UsageError('--json is for fleet status');
  return { help: false, action, redis, name, event: revocation(values), timeoutMs };
}

function revocation(values: Flags): FleetEvent {
  const given = (['serial', 'crl', 'subject-email'] as const).filter((flag) => values[flag] !== undefined);
  if (given.length !== 1)
    throw new UsageError(
      given.length === 0
        ? 'say what to revoke: --serial, --crl or --subject-email'
        : `--${given.join(' and --')} are alternatives: give one`,
    );
  if (values.issuer !== undefined && given[0] !== 'serial') throw new UsageError('--issuer goes with --serial');
  const reason = values.reason as string | undefined;
  let event: Record<string, unknown>;
  switch (given[0]!) {
    case 'serial':
      event = { type: 'certificate-revoked', serial: values.serial, issuer: values.issuer, reason };
      break;
    case 'crl':
      if (reason !== undefined) throw new UsageError('--reason goes with --serial or --subject-email');
      event = { type: 'crl', pem: readCrl(values.crl as string) };
      break;
    case 'subject-email':
      event = {
        type: 'subject-revoked',
        subject: { format: 'email', email: values['subject-email'] },
        before: Date.now(),
        reason,
      };
      break;
  }
  try {
    return checkEvent(event);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function readCrl(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`--crl ${path} could not be read (${code})`);
  }
}

function parse(argv: string[]): { values: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: true });
    return { values: values as Flags, positionals };
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${quoted}`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = /(-[\w-]+)/.exec(quoted)?.[1] ?? quoted;
      throw new UsageError(/argument missing/.test(message) ? `${flag} needs a value` : `${flag} takes no value`);
    }
    throw new UsageError(message);
  }
}

/** Runs a parsed `fleet` command; resolves with the exit code. */
export async function runFleet(
  command: Exclude<FleetCommand, { help: true }>,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  try {
    if (command.action === 'revoke') {
      const origin = `cli:${hostname()}:${process.pid}`;
      const entry = JSON.stringify({ at: Date.now(), origin, event: command.event });
      const { id } = await publishOnce(command.redis, command.name, entry, stateOps(command.event), {
        timeoutMs: command.timeoutMs,
        maxEntries: 10_000,
      });
      out(`${id}\n`);
      return 0;
    }
    const report = await readReport(command.redis, command.name, command.timeoutMs);
    out(command.json ? `${JSON.stringify(report, null, 2)}\n` : describe(report, Date.now()));
    return 0;
  } catch (error) {
    err(`continuous-tls fleet ${command.action}: ${(error as Error).message}\n`);
    return 1;
  }
}

function ago(at: unknown, now: number): string {
  return typeof at === 'number' ? `${((now - at) / 1000).toFixed(1)} s ago` : 'never';
}

/** The report for a terminal. */
export function describe(report: FeedReport, now: number): string {
  const lines = [`fleet '${report.name}': ${report.head.seq} entries`];
  const last = report.lastEvent;
  if (last !== null)
    lines.push(
      `last event: ${last.id} ${last.type ?? '(unreadable)'} from ${last.origin ?? '?'}, ${ago(last.at, now)}`,
    );
  const { revokedSerials, revokedSubjects, crls } = report.counts;
  lines.push(`revoked: ${revokedSerials} serials, ${revokedSubjects} subject entries; ${crls} CRLs shared`);
  lines.push(`members: ${report.members.length}`);
  for (const m of report.members) {
    const lag = m.lag === null ? 'lag ?' : `lag ${m.lag}`;
    const watching = `watching ${String(m['watching'] ?? '?')}, ${String(m['connections'] ?? '?')} connections`;
    const stale = m['stale'] === true ? ' STALE' : '';
    lines.push(`  ${m.member}  ${lag}  last seen ${ago(m['lastSeen'], now)}  ${watching}${stale}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `fleet …` from cli.ts. */
export async function runFleetCommand(argv: string[]): Promise<number> {
  let command: FleetCommand;
  try {
    command = parseFleetArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`continuous-tls fleet: ${error.message}\n\n${FLEET_USAGE}`);
    return 2;
  }
  if (command.help) {
    process.stdout.write(FLEET_USAGE);
    return 0;
  }
  return runFleet(
    command,
    (text) => process.stdout.write(text),
    (text) => process.stderr.write(text),
  );
}
