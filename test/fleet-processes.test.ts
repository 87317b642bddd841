/**
 * Four processes, one fleet: each has an owned Server and an attached node:tls server with live mTLS
 * clients of three identities. A revocation published at one process (a serial, then a subject's
 * email) cuts exactly the affected connections in all four, on both tiers, and no other.
 */
import t, { type Test } from 'tap';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { haveRedis, startRedis } from './helpers/redis';

if (!haveRedis) t.plan(0, 'no redis-server');

const MEMBER = join(__dirname, 'helpers', 'fleet-member.mjs');
type Message = { op: string; [key: string]: unknown };

class Member {
  readonly child: ChildProcess;
  readonly #inbox: Message[] = [];
  readonly #waiters: Array<(m: Message) => void> = [];

  constructor(t: Test) {
    this.child = fork(MEMBER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: Message) => {
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) waiter(m);
      else this.#inbox.push(m);
    });
    t.teardown(() => {
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    });
  }

  /** Sends a request and waits for its answer (bounded). */
  async ask(message: Message, ms = 20_000): Promise<Message> {
    this.child.send(message);
    const answer = await new Promise<Message>((resolve, reject) => {
      const queued = this.#inbox.shift();
      if (queued !== undefined) return resolve(queued);
      const timer = setTimeout(() => reject(new Error(`no answer to ${message.op} within ${ms} ms`)), ms);
      this.#waiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    if (answer.op === 'error') throw new Error(String(answer['message']));
    return answer;
  }
}

t.test('a revocation at one process cuts the affected connections in all four and no others', async (t) => {
  const redis = await startRedis(t);
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const identities = await Promise.all(
    ['alice', 'bob', 'carol'].map(async (name) => ({
      name,
      ...(await ca.issueClient({ commonName: name, altNames: [`${name}@example.com`] })),
    })),
  );
  const pki = { ca: ca.rootCert, server: { key: server.key, chain: server.chain }, identities };
  const members = [0, 1, 2, 3].map(() => new Member(t));
  const ready = await Promise.all(members.map((m) => m.ask({ op: 'start', redis: redis.url, name: 'four', pki })));
  const labels = ready[0]!['connections'] as string[];
  t.equal(labels.length, 12, 'two tiers x three identities x two connections, in each process');

  /** Polls every member until each has applied `id` and its connections are as `expected` says. */
  async function expectEverywhere(id: string, cut: (label: string) => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (const [i, member] of members.entries()) {
      for (;;) {
        const report = await member.ask({ op: 'check', id });
        const connections = report['connections'] as Record<string, string>;
        const want = Object.fromEntries(labels.map((label) => [label, cut(label) ? 'closed' : 'open']));
        if (report['applied'] === id && labels.every((label) => connections[label] === want[label])) {
          t.pass(`${what}: process ${i}`);
          break;
        }
        if (Date.now() > deadline) {
          t.same(connections, want, `${what}: process ${i}`);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  const bobSerial = identities[1]!.serial;
  const first = await members[0]!.ask({ op: 'publish', event: { type: 'certificate-revoked', serial: bobSerial } });
  await expectEverywhere(String(first['id']), (label) => label.includes(':bob:'), "bob's serial");

  const second = await members[2]!.ask({
    op: 'publish',
    event: { type: 'subject-revoked', subject: { format: 'email', email: 'ALICE@example.com' }, before: Date.now() },
  });
  await expectEverywhere(String(second['id']), (label) => !label.includes(':carol:'), "alice's email");
  await Promise.all(
    members.map(
      (m) =>
        new Promise((resolve) => {
          m.child.once('exit', resolve);
          m.child.send({ op: 'exit' });
        }),
    ),
  );
});
