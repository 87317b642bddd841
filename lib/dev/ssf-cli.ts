/**
 * `continuous-tls ssf-transmit`: signs one CAEP event with a development key and pushes it to a
 * receiver (RFC 8935), printing the receiver's answer. For development and the demo only.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { SubjectIdentifier } from '../fleet/subject-id.js';
import { UsageError } from './cli-args.js';
import { CAEP_EVENTS, createDevTransmitter, loadOrCreateKey, pushSet } from './ssf-transmit.js';

export const SSF_TRANSMIT_USAGE = `Usage: continuous-tls ssf-transmit --receiver URL --audience AUD [--issuer ISS]
                                    [--event NAME] <subject> [--key FILE] [--jwks-out FILE]
                                    [--serial HEX] [--claims JSON] [--fields JSON] [--reason TEXT]
                                    [--authorization VALUE] [--timeout MS]

Signs one CAEP event (a Security Event Token, ES256) with a development key and pushes it to the
receiver's RFC 8935 endpoint; prints the HTTP status and body the receiver answered (exit 0 on 2xx).
--event: ${CAEP_EVENTS.join(', ')} (default session-revoked).
<subject>: --subject-email ADDR | --subject-uri URI | --subject-opaque ID | --subject-iss ISS --subject-sub SUB.
--key FILE keeps the private key (created there, owner-only, when absent); without it the key is
ephemeral. --jwks-out FILE writes the public JWK Set the receiver must trust. Without --receiver the
command only creates the key and writes the JWKS. --serial HEX (credential-change) names the revoked
X.509 certificate; --claims (token-claims-change) and --fields add members to the event.
--issuer defaults to urn:continuous-tls:dev. Never use a development key in production.
`;

interface TransmitCommand {
  receiver: string | undefined;
  issuer: string;
  audience: string | undefined;
  event: string;
  subject: SubjectIdentifier | undefined;
  key: string | undefined;
  jwksOut: string | undefined;
  fields: Record<string, unknown>;
  authorization: string | undefined;
  timeout: number;
}

export function parseSsfTransmitArgs(argv: string[]): { help: true } | { help: false; command: TransmitCommand } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        receiver: { type: 'string' },
        issuer: { type: 'string' },
        audience: { type: 'string' },
        event: { type: 'string' },
        'subject-email': { type: 'string' },
        'subject-uri': { type: 'string' },
        'subject-opaque': { type: 'string' },
        'subject-iss': { type: 'string' },
        'subject-sub': { type: 'string' },
        key: { type: 'string' },
        'jwks-out': { type: 'string' },
        serial: { type: 'string' },
        claims: { type: 'string' },
        fields: { type: 'string' },
        reason: { type: 'string' },
        authorization: { type: 'string' },
        timeout: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values['help'] === true) return { help: true };
  const text = (name: string): string | undefined => values[name] as string | undefined;
  const event = text('event') ?? 'session-revoked';
  if (!(CAEP_EVENTS as readonly string[]).includes(event)) throw new UsageError(`unknown --event "${event}"`);
  const receiver = text('receiver');
  if (receiver !== undefined && !URL.canParse(receiver)) throw new UsageError('--receiver must be a URL');
  const subject = subjectOf(text);
  if (receiver !== undefined && (text('audience') === undefined || subject === undefined))
    throw new UsageError('pushing needs --audience and a subject (--subject-email, …)');
  if (receiver === undefined && text('key') === undefined && text('jwks-out') === undefined)
    throw new UsageError('give --receiver, or --key/--jwks-out to create a key');
  const timeout = Number(text('timeout') ?? 10_000);
  if (!Number.isSafeInteger(timeout) || timeout <= 0) throw new UsageError('--timeout must be a positive integer');
  return {
    help: false,
    command: {
      receiver,
      issuer: text('issuer') ?? 'urn:continuous-tls:dev',
      audience: text('audience'),
      event,
      subject,
      key: text('key'),
      jwksOut: text('jwks-out'),
      fields: eventFields(event, text),
      authorization: text('authorization'),
      timeout,
    },
  };
}

function subjectOf(text: (name: string) => string | undefined): SubjectIdentifier | undefined {
  const email = text('subject-email');
  const uri = text('subject-uri');
  const opaque = text('subject-opaque');
  const iss = text('subject-iss');
  const sub = text('subject-sub');
  const given = [email, uri, opaque, iss ?? sub].filter((v) => v !== undefined);
  if (given.length > 1) throw new UsageError('give one subject');
  if (email !== undefined) return { format: 'email', email };
  if (uri !== undefined) return { format: 'uri', uri };
  if (opaque !== undefined) return { format: 'opaque', id: opaque };
  if (iss !== undefined || sub !== undefined) {
    if (iss === undefined || sub === undefined) throw new UsageError('--subject-iss and --subject-sub go together');
    return { format: 'iss_sub', iss, sub };
  }
  return undefined;
}

function eventFields(event: string, text: (name: string) => string | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = { ...json('--fields', text('fields')) };
  const reason = text('reason');
  if (reason !== undefined) fields['reason_admin'] = { en: reason };
  const serial = text('serial');
  if (serial !== undefined) {
    if (event !== 'credential-change') throw new UsageError('--serial goes with --event credential-change');
    Object.assign(fields, { credential_type: 'x509', x509_serial: serial });
  }
  if (event === 'credential-change') fields['change_type'] ??= 'revoke';
  const claims = text('claims');
  if (claims !== undefined) fields['claims'] = json('--claims', claims);
  return fields;
}

function json(flag: string, value: string | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  try {
    const parsed = JSON.parse(value) as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
  } catch {
    // Reported below.
  }
  throw new UsageError(`${flag} must be a JSON object`);
}

/** Runs the command; resolves with the exit code. */
export async function runSsfTransmit(command: TransmitCommand): Promise<number> {
  const privateJwk = command.key === undefined ? undefined : await loadOrCreateKey(command.key);
  const transmitter = await createDevTransmitter({ issuer: command.issuer, ...(privateJwk ? { privateJwk } : {}) });
  const jwks = `${JSON.stringify(transmitter.jwks())}\n`;
  if (command.jwksOut !== undefined) writeFileSync(command.jwksOut, jwks);
  else if (command.key === undefined) process.stderr.write(`ssf-transmit: ephemeral key, JWKS: ${jwks}`);
  if (command.receiver === undefined) return 0;
  const token = await transmitter.caep(command.event, {
    audience: command.audience as string,
    subject: command.subject as SubjectIdentifier,
    fields: command.fields,
  });
  const { status, body } = await pushSet(command.receiver, token, {
    timeout: command.timeout,
    ...(command.authorization === undefined ? {} : { authorization: command.authorization }),
  });
  process.stdout.write(`${status}${body === '' ? '' : ` ${body}`}\n`);
  return status >= 200 && status < 300 ? 0 : 1;
}

/** The whole command: its help, a usage error (exit 2), or the push. */
export async function ssfTransmitCommand(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseSsfTransmitArgs>;
  try {
    parsed = parseSsfTransmitArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`continuous-tls ssf-transmit: ${err.message}\n\n${SSF_TRANSMIT_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(SSF_TRANSMIT_USAGE);
    return 0;
  }
  try {
    return await runSsfTransmit(parsed.command);
  } catch (err) {
    process.stderr.write(`continuous-tls ssf-transmit: ${(err as Error).message}\n`);
    return 1;
  }
}
