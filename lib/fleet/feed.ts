/**
 * The fleet's feed on Redis Streams (ioredis: one client for a single server, Sentinel and Cluster,
 * raw stream replies, and control over reconnects and the offline queue).
 *
 * Every key sits under one hash tag, `ctls:{<name>}:…`, so Redis Cluster keeps them in one slot
 * and one script can touch them all:
 *   events           the stream; each entry holds `n` (its sequence number) and `e` (the entry JSON)
 *   state:serials|subjects|signals|crls   hashes: the state after every entry up to meta.lastId
 *   state:meta       lastId, seq (entries so far), epoch (changes if the feed is ever recreated) and
 *                    maxEntries (the stream length its members keep)
 *   members          member -> JSON heartbeat, for `continuous-tls fleet status`
 *   once:<len>:<ns>:<id>   claimOnce() markers (SET NX PX); <len> is the namespace's length
 *
 * A publish is one script: it appends the entry, applies its state operations (an `expire` step
 * sweeps a slice of a hash by Redis's own clock, one clock whichever host publishes, keeping each
 * entry FEED_EXPIRY_GRACE_MS past its expiry for members whose clocks run behind) and moves lastId, so
 * the snapshot (state + lastId) is always exactly the stream up to lastId, and trimming the stream
 * (MAXLEN ~) only ever drops entries the snapshot already holds. Sequence numbers let a reader see
 * any gap (entries trimmed while it was away, a feed recreated) and reload the snapshot instead.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { ctlsError } from '../common/errors.js';
import { STATE_HASHES, type StateHash, type StateOp } from './events.js';
import type { RedisTarget } from './types.js';
import { timerDelay } from '../common/timers.js';

type Client = Redis | Cluster;

/**
 * How long past its expiry the feed keeps an entry. The sweep runs on Redis's clock, but each member
 * judges peers on its own: a member whose clock runs behind Redis's still holds an entry in force
 * after Redis's clock has passed it, and a process joining then must still find it in the snapshot.
 * Members prune their own copies on their own clocks, without this margin.
 */
export const FEED_EXPIRY_GRACE_MS = 5 * 60_000;

const PUBLISH_SCRIPT = `
redis.call('HSETNX', KEYS[6], 'epoch', ARGV[3])
local maxlen = ARGV[1]
if maxlen == '0' then
  maxlen = redis.call('HGET', KEYS[6], 'maxEntries') or '10000'
else
  redis.call('HSET', KEYS[6], 'maxEntries', maxlen)
end
local n = redis.call('HINCRBY', KEYS[6], 'seq', 1)
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'n', n, 'e', ARGV[2])
local hashes = { serials = KEYS[2], subjects = KEYS[3], signals = KEYS[4], crls = KEYS[5] }
local function lead(v)
  local nl = string.find(v, '\\n', 1, true)
  return tonumber(nl and string.sub(v, 1, nl - 1) or v)
end
local function second(v)
  local nl = string.find(v, '\\n', 1, true)
  return nl and lead(string.sub(v, nl + 1))
end
-- As expiryOf(): when a field may be forgotten (nil: never).
local function expiry(hash, field, value)
  if hash == 'signals' then return second(value) end
  if hash == 'serials' then return lead(value) end
  if hash == 'subjects' then
    local last = string.match(field, ',([^,]*)%]$')
    return last and tonumber(last)
  end
end
local function expire(hash, key)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local mark = 'sweep:' .. hash
  local scan = redis.call('HSCAN', key, redis.call('HGET', KEYS[6], mark) or '0', 'COUNT', 128)
  redis.call('HSET', KEYS[6], mark, scan[1])
  local found = scan[2]
  for j = 1, #found, 2 do
    local at = expiry(hash, found[j], found[j + 1])
    if at and at + ${FEED_EXPIRY_GRACE_MS} < now then redis.call('HDEL', key, found[j]) end
  end
end
for i = 4, #ARGV, 4 do
  local key = hashes[ARGV[i]]
  local field, value, rule = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if rule == 'expire' then
    expire(ARGV[i], key)
  else
    local write = true
    if rule == 'max' then
      -- As FleetState.apply: only a larger number keeps the field; a value without one is replaced.
      local current = redis.call('HGET', key, field)
      local old, new = current and lead(current), lead(value)
      write = not (old and new and old > new)
    end
    if write then redis.call('HSET', key, field, value) end
  end
end
redis.call('HSET', KEYS[6], 'lastId', id)
return { id, n }
`;

/**
 * Writes a member's state back to a feed that lost it (see FleetMember#reload): a field the feed
 * lacks is written; a 'max' field replaces the feed's only when its leading number is greater; any
 * other field the feed holds stays (it was written after the loss). The epoch is set if unset.
 */
const RESTORE_SCRIPT = `
redis.call('HSETNX', KEYS[5], 'epoch', ARGV[1])
local hashes = { serials = KEYS[1], subjects = KEYS[2], signals = KEYS[3], crls = KEYS[4] }
local function lead(v)
  local nl = string.find(v, '\\n', 1, true)
  return tonumber(nl and string.sub(v, 1, nl - 1) or v)
end
for i = 2, #ARGV, 4 do
  local key = hashes[ARGV[i]]
  if key then
    local field, value, rule = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local current = redis.call('HGET', key, field)
    local write = not current
    if current and rule == 'max' then
      local have, give = lead(current), lead(value)
      write = have ~= nil and give ~= nil and have < give
    end
    if write then redis.call('HSET', key, field, value) end
  end
end
return 1
`;

/** The stream's entry at ARGV[1] (none when it is gone) and its oldest entry, at one instant. */
const HISTORY_SCRIPT = `
return { redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]), redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1) }
`;

const SNAPSHOT_SCRIPT = `
return {
  redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]),
  redis.call('HGETALL', KEYS[4]), redis.call('HMGET', KEYS[5], 'lastId', 'seq', 'epoch')
}
`;

/** The state and position of the feed at one instant. */
export interface Snapshot {
  hashes: Map<StateHash, Map<string, string>>;
  lastId: string;
  seq: number;
  epoch: string | null;
}

/** An entry as read from the stream: its id and its fields, not yet trusted. */
export interface RawEntry {
  id: string;
  fields: Record<string, string>;
}

/** What the stream holds of a member's position: the entry at its last id, and the oldest entry. */
export interface History {
  at: RawEntry | null;
  oldest: RawEntry | null;
}

type StreamReply = Array<[string, string[]]>;

function rawEntries(list: StreamReply | null | undefined): RawEntry[] {
  const entries: RawEntry[] = [];
  for (const [id, flat] of list ?? []) {
    const fields: Record<string, string> = Object.create(null) as Record<string, string>;
    for (let j = 0; j + 1 < flat.length; j += 2) fields[flat[j]!] = flat[j + 1]!;
    entries.push({ id, fields });
  }
  return entries;
}

export interface FeedKeys {
  events: string;
  meta: string;
  members: string;
  state: (hash: StateHash) => string;
  once: (namespace: string, id: string) => string;
}

export function feedKeys(name: string): FeedKeys {
  const prefix = `ctls:{${name}}:`;
  return {
    events: `${prefix}events`,
    meta: `${prefix}state:meta`,
    members: `${prefix}members`,
    state: (hash) => `${prefix}state:${hash}`,
    // The namespace's length comes first: 'app:tenant' + 'x' and 'app' + 'tenant:x' are two keys.
    once: (namespace, id) => `${prefix}once:${namespace.length}:${namespace}:${id}`,
  };
}

/**
 * Our connections never queue commands while disconnected and never resend one after a reconnect:
 * a publish either reaches Redis now or fails now, and is never written twice behind our back.
 */
const CONNECTION_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  autoResendUnfulfilledCommands: false,
  retryStrategy: (times: number) => Math.min(50 * times, 1000),
};

/** A new connection to `target`; a client the caller passed is duplicated, never used or closed. */
export function connectRedis(target: RedisTarget, connectTimeout: number, commandTimeout?: number): Client {
  const { Redis: RedisClass } = require('ioredis') as typeof import('ioredis');
  const options: RedisOptions = { ...CONNECTION_OPTIONS, connectTimeout };
  if (commandTimeout !== undefined) options.commandTimeout = commandTimeout;
  let client: Client;
  if (typeof target === 'string') client = new RedisClass(target, options);
  else if (typeof (target as { duplicate?: unknown }).duplicate === 'function') {
    const given = target as Client;
    if (given.isCluster) {
      // The override replaces the cluster's options one level deep: keep its node options (auth, TLS).
      // The nodes keep their offline queue: the cluster sends CLUSTER SLOTS before they are ready.
      const cluster = given as Cluster;
      const { enableOfflineQueue: _queue, ...nodeOptions } = options;
      client = cluster.duplicate([], {
        enableOfflineQueue: false,
        redisOptions: { ...cluster.options.redisOptions, ...nodeOptions },
      });
    } else client = (given as Redis).duplicate(options);
  } else client = new RedisClass({ ...(target as RedisOptions), ...options });
  // Connection errors surface through the commands that fail; an 'error' event must not crash.
  client.on('error', () => {});
  return client;
}

export function unavailable(what: string, cause?: unknown): Error {
  const detail = cause instanceof Error ? `: ${cause.message}` : '';
  return ctlsError('ERR_CTLS_FLEET_UNAVAILABLE', `The fleet feed (Redis) ${what}${detail}`, { cause });
}

const QUIT_WAIT_MS = 1000;

/** `promise`, or a rejection after `ms` (the timer never keeps the process alive). */
export function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), timerDelay(ms));
    timer.unref();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Resolves when `client` is ready; rejects after `timeoutMs`. */
export function whenReady(client: Client, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`not ready within ${timeoutMs} ms (${client.status})`));
    }, timerDelay(timeoutMs));
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/** Two connections to one fleet's keys: commands, and a reader that blocks on the stream. */
export class Feed {
  readonly keys: FeedKeys;
  readonly #commands: Client;
  readonly #reader: Client;
  readonly #epoch = randomBytes(8).toString('hex');

  readonly #timeoutMs: number;

  constructor(target: RedisTarget, name: string, connectTimeout: number) {
    this.keys = feedKeys(name);
    this.#timeoutMs = connectTimeout;
    // A command unanswered this long fails: a half-open connection must not hang a publish.
    this.#commands = connectRedis(target, connectTimeout, connectTimeout);
    this.#reader = connectRedis(target, connectTimeout);
  }

  async ready(timeoutMs: number): Promise<void> {
    await Promise.all([whenReady(this.#commands, timeoutMs), whenReady(this.#reader, timeoutMs)]);
  }

  get readerReady(): boolean {
    return this.#reader.status === 'ready';
  }

  /**
   * Appends an entry and applies its state operations, atomically. The stream keeps about
   * `maxEntries` entries; 0 keeps what the fleet's members last asked for (a publisher outside the
   * fleet, such as the CLI, must not trim it to a length of its own).
   */
  async publish(entry: string, ops: readonly StateOp[], maxEntries: number): Promise<{ id: string; seq: number }> {
    const k = this.keys;
    const args: string[] = [String(maxEntries), entry, this.#epoch];
    for (const op of ops) args.push(op.hash, op.field, op.value, op.rule);
    const keys = [k.events, ...STATE_HASHES.map((hash) => k.state(hash)), k.meta];
    const [id, seq] = (await this.#commands.eval(PUBLISH_SCRIPT, keys.length, ...keys, ...args)) as [string, number];
    return { id, seq: Number(seq) };
  }

  /** Merges state fields into the feed's state hashes (RESTORE_SCRIPT); no entry is appended. */
  async restore(ops: readonly StateOp[]): Promise<void> {
    const k = this.keys;
    const args: string[] = [this.#epoch];
    for (const op of ops) args.push(op.hash, op.field, op.value, op.rule);
    const keys = [...STATE_HASHES.map((hash) => k.state(hash)), k.meta];
    await this.#commands.eval(RESTORE_SCRIPT, keys.length, ...keys, ...args);
  }

  /** The state hashes and the position they are at, read in one script (one instant). */
  async snapshot(): Promise<Snapshot> {
    const k = this.keys;
    const keys = [...STATE_HASHES.map((hash) => k.state(hash)), k.meta];
    const reply = (await this.#commands.eval(SNAPSHOT_SCRIPT, keys.length, ...keys)) as string[][];
    const hashes = new Map<StateHash, Map<string, string>>();
    STATE_HASHES.forEach((hash, i) => {
      const flat = reply[i] ?? [];
      const fields = new Map<string, string>();
      for (let j = 0; j + 1 < flat.length; j += 2) fields.set(flat[j]!, flat[j + 1]!);
      hashes.set(hash, fields);
    });
    const [lastId, seq, epoch] = reply[STATE_HASHES.length] ?? [];
    return { hashes, lastId: lastId ?? '0-0', seq: Number(seq ?? 0), epoch: epoch ?? null };
  }

  /** The feed's position and epoch, read on the reader's connection (so it counts as contact). */
  async position(): Promise<{ seq: number; epoch: string | null }> {
    const [seq, epoch] = await this.#answered(this.#reader.hmget(this.keys.meta, 'seq', 'epoch'), this.#timeoutMs);
    return { seq: Number(seq ?? 0), epoch: epoch ?? null };
  }

  /** Entries after `afterId`, waiting up to `blockMs` for one when given (null when none came). */
  async read(afterId: string, count: number, blockMs?: number): Promise<RawEntry[]> {
    const reply = await this.#answered(
      blockMs === undefined
        ? this.#reader.xread('COUNT', count, 'STREAMS', this.keys.events, afterId)
        : this.#reader.xread('COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.keys.events, afterId),
      (blockMs ?? 0) + this.#timeoutMs,
    );
    const entries: RawEntry[] = [];
    for (const [, list] of reply ?? []) entries.push(...rawEntries(list));
    return entries;
  }

  /** The entry at `id` (null when the stream no longer holds it) and the stream's oldest entry. */
  async history(id: string): Promise<History> {
    const keys = [this.keys.events];
    const [at, oldest] = (await this.#commands.eval(HISTORY_SCRIPT, keys.length, ...keys, id)) as StreamReply[];
    return { at: rawEntries(at)[0] ?? null, oldest: rawEntries(oldest)[0] ?? null };
  }

  /**
   * The reader's reply, or a failure after `ms`: a connection that stopped answering without
   * closing (a half-open TCP link) is dropped and opened again rather than waited on forever.
   */
  async #answered<T>(command: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const silent = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#reader.disconnect(true);
        reject(new Error(`no answer within ${ms} ms`));
      }, timerDelay(ms));
    });
    try {
      return await Promise.race([command, silent]);
    } finally {
      clearTimeout(timer);
    }
  }

  async heartbeat(member: string, record: Record<string, unknown>): Promise<void> {
    await this.#commands.hset(this.keys.members, member, JSON.stringify(record));
  }

  /** Forgets members whose last heartbeat is older than `ms` (processes that died without leaving). */
  async forgetSilent(ms: number, now: number): Promise<void> {
    const members = await this.#commands.hgetall(this.keys.members);
    const silent: string[] = [];
    for (const [member, json] of Object.entries(members)) {
      let lastSeen: unknown;
      try {
        lastSeen = (JSON.parse(json) as { lastSeen?: unknown }).lastSeen;
      } catch {
        // A record that does not parse is forgotten like a silent one.
      }
      if (typeof lastSeen !== 'number' || now - lastSeen > ms) silent.push(member);
    }
    if (silent.length > 0) await this.#commands.hdel(this.keys.members, ...silent);
  }

  async leave(member: string): Promise<void> {
    await this.#commands.hdel(this.keys.members, member);
  }

  async claimOnce(namespace: string, id: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#commands.set(this.keys.once(namespace, id), '1', 'PX', ttlMs, 'NX');
    return reply === 'OK';
  }

  async close(): Promise<void> {
    // The reader may be blocked in XREAD: drop it rather than wait for the reply.
    this.#reader.disconnect();
    // QUIT lets Redis finish what was sent; a link that stopped answering is dropped after a moment.
    if (this.#commands.status === 'ready') await within(this.#commands.quit(), QUIT_WAIT_MS).catch(() => undefined);
    this.#commands.disconnect();
  }
}

/** What `continuous-tls fleet status` shows: the feed's head, its members and the size of its state. */
export interface FeedReport {
  name: string;
  head: { lastId: string | null; seq: number };
  lastEvent: { id: string; at: number | null; origin: string | null; type: string | null } | null;
  counts: { revokedSerials: number; revokedSubjects: number; crls: number };
  members: Array<Record<string, unknown> & { member: string; lag: number | null }>;
}

/** Reads a fleet's report with a connection of its own (no member joins). */
export async function readReport(target: RedisTarget, name: string, timeoutMs: number): Promise<FeedReport> {
  const client = connectRedis(target, timeoutMs);
  const k = feedKeys(name);
  try {
    await whenReady(client, timeoutMs);
    const [meta, last, serials, subjects, crls, members] = await Promise.all([
      client.hmget(k.meta, 'lastId', 'seq'),
      client.xrevrange(k.events, '+', '-', 'COUNT', 1),
      client.hlen(k.state('serials')),
      client.hlen(k.state('subjects')),
      client.hlen(k.state('crls')),
      client.hgetall(k.members),
    ]);
    const seq = Number(meta[1] ?? 0);
    return {
      name,
      head: { lastId: meta[0] ?? null, seq },
      lastEvent: last[0] === undefined ? null : describeEntry(last[0][0], last[0][1]),
      counts: { revokedSerials: serials, revokedSubjects: subjects, crls },
      members: Object.entries(members).map(([member, json]) => {
        let record: Record<string, unknown> = {};
        try {
          record = JSON.parse(json) as Record<string, unknown>;
        } catch {
          // A member record that does not parse still shows the member.
        }
        const memberSeq = record['seq'];
        return { member, ...record, lag: typeof memberSeq === 'number' ? Math.max(0, seq - memberSeq) : null };
      }),
    };
  } catch (error) {
    throw unavailable('could not be read', error);
  } finally {
    client.disconnect();
  }
}

function describeEntry(id: string, flat: string[]): NonNullable<FeedReport['lastEvent']> {
  const at = flat.indexOf('e');
  try {
    const entry = JSON.parse(flat[at + 1] ?? '') as { at?: unknown; origin?: unknown; event?: { type?: unknown } };
    return {
      id,
      at: typeof entry.at === 'number' ? entry.at : null,
      origin: typeof entry.origin === 'string' ? entry.origin : null,
      type: typeof entry.event?.type === 'string' ? entry.event.type : null,
    };
  } catch {
    return { id, at: null, origin: null, type: null };
  }
}

/** Publishes one checked event with a connection of its own (the CLI's `fleet revoke`). */
export async function publishOnce(
  target: RedisTarget,
  name: string,
  entry: string,
  ops: readonly StateOp[],
  options: { timeoutMs: number },
): Promise<{ id: string; seq: number }> {
  const feed = new Feed(target, name, options.timeoutMs);
  try {
    await feed.ready(options.timeoutMs);
    return await feed.publish(entry, ops, 0);
  } catch (error) {
    throw unavailable('could not be written', error);
  } finally {
    await feed.close();
  }
}
