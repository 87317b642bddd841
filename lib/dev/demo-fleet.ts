/**
 * The demo's fleet act: three processes share one fleet on a private redis-server. Each holds an
 * owned mTLS server with live streams from two users, alice and bob. The identity provider (the
 * development transmitter) pushes one CAEP session-revoked SET for alice's email to the first
 * process; the act prints when it was pushed, accepted, on the feed, and when each process cut
 * alice's stream, then checks that bob's streams still flow. Everything it started is stopped.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { connectDemoClient } from './demo-client.js';
import type { TLSSocket } from '../tls/socket.js';
import { DevelopmentCA } from './pki.js';
import { findRedisServer, startPrivateRedis, REDIS_HINT, type PrivateRedis } from './demo-fleet-redis.js';
import type { MemberConfig, MemberMessage } from './demo-fleet-member.js';
import { FleetTimeline, hrtimeUs } from './demo-fleet-timeline.js';
import { createDevTransmitter, pushSet, type DevTransmitter } from './ssf-transmit.js';

const PROCESSES = 3;
const USERS = ['alice', 'bob'] as const;
type User = (typeof USERS)[number];
const EMAIL: Record<User, string> = { alice: 'alice@example.com', bob: 'bob@example.com' };
const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'https://api.example.com';
const SSF_VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
/** Bound on every wait of the act, so a broken piece fails the act instead of hanging it. */
const STEP_TIMEOUT_MS = 5_000;

export interface FleetActOptions {
  quiet?: boolean;
  /** Where lines go (default stdout). */
  write?: (line: string) => void;
  check: (name: string, ok: boolean, detail: string) => void;
}

/** What the act did, for its test: the facts the timeline prints. */
export interface FleetActResult {
  skipped: boolean;
  accepted: boolean;
  /** Per process: the cuts it reported (user and reason), in order. */
  cuts: Array<Array<{ user: string; reason: string }>>;
  /** Per process: whether bob's stream still echoed after alice was cut everywhere. */
  bobAlive: boolean[];
  /** Process ids of everything started (redis-server and the members): all exited when the act returns. */
  pids: number[];
}

interface Member {
  child: ChildProcess;
  index: number;
  port: number;
  pushUrl?: string;
  messages: MemberMessage[];
}

type Say = (line: string) => void;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `test` holds, polling; rejects with `what` after STEP_TIMEOUT_MS. */
async function until(test: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Everything the act started, so that it can all be stopped whatever happened. */
interface Stage {
  redis?: PrivateRedis;
  members: Member[];
  clients: Array<{ user: User; index: number; socket: TLSSocket }>;
  streamer?: NodeJS.Timeout;
}

export async function runFleetAct(options: FleetActOptions): Promise<FleetActResult> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const say = (line: string): void => {
    if (options.quiet !== true) write(line);
  };
  const result: FleetActResult = { skipped: false, accepted: false, cuts: [], bobAlive: [], pids: [] };
  say('\nFleet act: one CAEP event reaches every process (Redis Streams)');
  if (findRedisServer() === undefined) {
    write(`  skipped: redis-server is not on PATH; ${REDIS_HINT}, then run the demo again`);
    result.skipped = true;
    return result;
  }
  const stage: Stage = { members: [], clients: [] };
  try {
    const transmitter = await createDevTransmitter({ issuer: ISSUER });
    await setUp(stage, transmitter, result, say);
    const timeline = await revokeAlice(stage, transmitter, result, say);
    for (const line of timeline) say(line);
    say(`  bob's streams still flowing: ${result.bobAlive.filter(Boolean).length} of ${PROCESSES} processes`);
    judge(result, options.check);
  } catch (error) {
    options.check('fleet: the act ran', false, (error as Error).message);
  } finally {
    clearInterval(stage.streamer);
    for (const { socket } of stage.clients) socket.destroy();
    await Promise.all(stage.members.map(stopMember));
    await stage.redis?.stop();
  }
  say(`  stopped ${result.pids.length} processes (redis-server and the ${PROCESSES} members)`);
  return result;
}

/** Redis, the CA, the member processes (the first one with the push endpoint), both users streaming to each. */
async function setUp(stage: Stage, transmitter: DevTransmitter, result: FleetActResult, say: Say): Promise<void> {
  stage.redis = await startPrivateRedis();
  result.pids.push(stage.redis.pid);
  const ca = await DevelopmentCA.create({ commonName: 'continuous-tls fleet demo CA' });
  const server = await ca.issueServer({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  const crl = await ca.crls({ nextUpdateMs: 60_000 });
  say(
    `  redis-server on 127.0.0.1:${stage.redis.port}; ${PROCESSES} processes, each an mTLS server watched by the fleet`,
  );
  for (let index = 0; index < PROCESSES; index++) {
    const receiver = { issuer: ISSUER, audience: AUDIENCE, jwks: transmitter.jwks() };
    const config: MemberConfig = {
      index,
      redisUrl: stage.redis.url,
      fleetName: 'demo',
      key: server.key,
      cert: server.chain,
      ca: ca.rootCert,
      crl,
      ...(index === 0 ? { receiver } : {}),
    };
    const member = await startMember(config);
    stage.members.push(member);
    result.pids.push(member.child.pid ?? -1);
  }
  say(`  process 1 also receives CAEP events from the identity provider at ${stage.members[0]!.pushUrl}`);

  for (const user of USERS) {
    const identity = await ca.issueClient({ commonName: `demo-${user}`, altNames: [EMAIL[user]] });
    for (const member of stage.members) {
      stage.clients.push({
        user,
        index: member.index,
        socket: await connectDemoClient(member.port, ca, identity, `${user}`),
      });
    }
  }
  await until(
    () => stage.members.every((m) => m.messages.filter((x) => x.type === 'held').length === USERS.length),
    'every process to hold both streams',
  );
  stage.streamer = setInterval(() => {
    for (const { socket } of stage.clients) if (!socket.destroyed) socket.write('tick\n');
  }, 50);
  say(`  alice and bob stream to every process (${stage.clients.length} live mTLS connections)`);
}

/** Verifies the stream, pushes the revocation, waits for the cuts, probes bob: the timeline's lines. */
async function revokeAlice(
  stage: Stage,
  transmitter: DevTransmitter,
  result: FleetActResult,
  say: Say,
): Promise<string[]> {
  const pushUrl = stage.members[0]!.pushUrl!;
  // Stream verification first (SSF 1.0 §8.1.4), as a receiver does when it is set up: it also
  // loads the receiver's JOSE code, so the timeline below shows the revocation and not a cold start.
  const verification = await transmitter.sign({
    audience: AUDIENCE,
    subject: { format: 'opaque', id: 'demo-stream' },
    events: { [SSF_VERIFICATION]: { state: 'demo' } },
  });
  const verified = await pushSet(pushUrl, verification);
  say(`  the identity provider verified its stream to process 1 (SSF verification event: ${verified.status})`);

  // event_timestamp is a NumericDate, fractions allowed (RFC 7519 §2): whole seconds would date the
  // revocation up to a second early and spare sessions that began within that second.
  const set = await transmitter.caep('session-revoked', {
    audience: AUDIENCE,
    subject: { format: 'email', email: EMAIL.alice },
    fields: { event_timestamp: Date.now() / 1000 },
  });
  const timeline = new FleetTimeline();
  const t0 = hrtimeUs();
  timeline.add(t0, 'idp', `pushes a signed CAEP session-revoked SET for ${EMAIL.alice} to process 1`);
  try {
    const { status } = await pushSet(pushUrl, set);
    timeline.add(hrtimeUs(), 'idp', `push answered ${status}`);
    result.accepted = status === 202;
  } catch (error) {
    say(`  the push failed: ${(error as Error).message}`);
  }

  const aliceCuts = (): number =>
    stage.members.filter((m) => m.messages.some((x) => x.type === 'cut' && x.email === EMAIL.alice)).length;
  await until(() => aliceCuts() === PROCESSES, "alice's stream to be cut in every process").catch(() => {});
  // Bob keeps streaming: each of his connections must still echo after alice is gone everywhere.
  result.bobAlive = await Promise.all(
    stage.members.map((m) => echoes(stage.clients.find((c) => c.user === 'bob' && c.index === m.index)!.socket)),
  );

  for (const member of stage.members) {
    const name = `process ${member.index + 1}`;
    for (const message of member.messages) {
      if (!('at' in message) || message.at < t0) continue;
      if (message.type === 'received' && message.name !== 'verification')
        timeline.add(message.at, name, `receiver accepted the SET (${message.name}): verified, published, applied`);
      else if (message.type === 'applied') timeline.add(message.at, name, `applied feed entry ${message.id}`);
      else if (message.type === 'cut')
        timeline.add(message.at, name, `cut ${userOf(message.email)}'s stream (${message.reason})`);
    }
    result.cuts.push(
      member.messages.flatMap((x) => (x.type === 'cut' ? [{ user: userOf(x.email), reason: x.reason }] : [])),
    );
  }
  return timeline.lines(t0);
}

function judge(result: FleetActResult, check: FleetActOptions['check']): void {
  const aliceCut = result.cuts.map((list) => list.some((c) => c.user === 'alice'));
  const bobCut = result.cuts.some((list) => list.some((c) => c.user === 'bob'));
  check('fleet: the identity provider push was accepted', result.accepted, result.accepted ? '202' : 'not accepted');
  check(
    "fleet: alice's stream cut in every process",
    aliceCut.length === PROCESSES && aliceCut.every(Boolean),
    `${aliceCut.filter(Boolean).length} of ${PROCESSES} processes cut it`,
  );
  check(
    "fleet: bob's streams untouched",
    !bobCut && result.bobAlive.length === PROCESSES && result.bobAlive.every(Boolean),
    `${result.bobAlive.filter(Boolean).length} of ${PROCESSES} still echo`,
  );
}

function userOf(email: string): string {
  return USERS.find((user) => EMAIL[user] === email) ?? email;
}

async function startMember(config: MemberConfig): Promise<Member> {
  const child = fork(join(__dirname, 'demo-fleet-member.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const member: Member = { child, index: config.index, port: 0, messages: [] };
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${config.index + 1} did not start`)), STEP_TIMEOUT_MS * 2);
    child.on('message', (message: MemberMessage) => {
      member.messages.push(message);
      if (message.type === 'ready') {
        clearTimeout(timer);
        member.port = message.port;
        if (message.pushUrl !== undefined) member.pushUrl = message.pushUrl;
        resolve();
      } else if (message.type === 'failed') {
        clearTimeout(timer);
        reject(new Error(`process ${config.index + 1}: ${message.message}`));
      }
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`process ${config.index + 1} exited`));
    });
  });
  child.send({ type: 'start', config });
  try {
    await ready;
  } catch (error) {
    await stopMember(member);
    throw error;
  }
  return member;
}

/** Asks a member to stop; kills it if it has not exited within a second. */
async function stopMember(member: Member): Promise<void> {
  const { child } = member;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send({ type: 'stop' });
  const timer = setTimeout(() => child.kill('SIGKILL'), 1_000);
  await exited;
  clearTimeout(timer);
}

/** Whether `socket` still echoes a probe within the step timeout. */
function echoes(socket: TLSSocket): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(false);
  const probe = `probe-${Math.random().toString(36).slice(2)}\n`;
  return new Promise((resolve) => {
    let seen = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onData = (chunk: Buffer): void => {
      seen = (seen + chunk.toString()).slice(-4096);
      if (seen.includes(probe)) done(true);
    };
    const onClose = (): void => done(false);
    const timer = setTimeout(() => done(false), STEP_TIMEOUT_MS);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(probe);
  });
}
