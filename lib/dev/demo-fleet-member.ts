/**
 * One process of the demo's fleet act, forked by demo-fleet.ts: an owned mTLS server watched by a
 * fleet on the demo's Redis, echoing what its clients stream; the first process also serves the
 * CAEP push endpoint. It reports over IPC when a connection is held and when one is cut, on
 * process.hrtime (one monotonic clock for every process of the machine), so the parent can put
 * every process's events on one timeline.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from '../server.js';
import type { TLSSocket } from '../tls/socket.js';
import type { Decision } from '../common/types.js';
import { createFleet, ssfReceiver, type SsfReceiver } from '../fleet/index.js';
import type { Fleet } from '../fleet/types.js';
import { sanEntries } from '../fleet/subject-id.js';
import { hrtimeUs } from './demo-fleet-timeline.js';

/** What the parent sends to start a member. */
export interface MemberConfig {
  index: number;
  redisUrl: string;
  fleetName: string;
  key: string;
  cert: string;
  ca: string;
  crl: string;
  /** Set on the process that serves the CAEP push endpoint. */
  receiver?: { issuer: string; audience: string; jwks: { keys: Array<Record<string, unknown>> } };
}

/** What a member reports. `at` is process.hrtime in µs. */
export type MemberMessage =
  | { type: 'ready'; index: number; port: number; member: string; pushUrl?: string }
  | { type: 'held'; index: number; email: string; at: number }
  | { type: 'received'; index: number; name: string; applied: boolean; duplicate: boolean; at: number }
  | { type: 'applied'; index: number; id: string; at: number }
  | { type: 'cut'; index: number; email: string; reason: string; at: number }
  | { type: 'failed'; index: number; message: string };

function send(message: MemberMessage): void {
  process.send?.(message);
}

/** The email SAN a peer's certificate carries (the demo's identities have one each). */
function emailOf(socket: TLSSocket): string {
  const san = socket.getPeerX509Certificate()?.subjectAltName;
  return sanEntries(san).find((entry) => entry.kind === 'email')?.value ?? '?';
}

async function start(config: MemberConfig): Promise<() => Promise<void>> {
  const fleet: Fleet = await createFleet({ redis: config.redisUrl, name: config.fleetName });
  fleet.on('warning', () => {});
  fleet.on('applied', (entry: { id: string }) =>
    send({ type: 'applied', index: config.index, id: entry.id, at: hrtimeUs() }),
  );
  const server: Server = createServer({
    key: config.key,
    cert: config.cert,
    ca: config.ca,
    crl: config.crl,
    requestCert: true,
    minVersion: 'TLSv1.3',
  });
  fleet.watch(server);
  let stopping = false;
  server.on('secureConnection', (socket: TLSSocket) => {
    const email = emailOf(socket);
    let reason = 'closed';
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
    socket.once('deauthorized', (decision: Decision) => (reason = decision.reason));
    socket.once('close', () => {
      if (!stopping) send({ type: 'cut', index: config.index, email, reason, at: hrtimeUs() });
    });
    send({ type: 'held', index: config.index, email, at: hrtimeUs() });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  let http: HttpServer | undefined;
  let receiver: SsfReceiver | undefined;
  let pushUrl: string | undefined;
  if (config.receiver !== undefined) {
    receiver = ssfReceiver({ ...config.receiver, fleet });
    receiver.on('error', () => {});
    receiver.on('event', (event) =>
      send({
        type: 'received',
        index: config.index,
        name: event.name,
        applied: event.applied,
        duplicate: event.duplicate,
        at: hrtimeUs(),
      }),
    );
    http = createHttpServer(receiver.handler);
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
    pushUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/ssf/events`;
  }
  send({
    type: 'ready',
    index: config.index,
    port,
    member: fleet.member,
    ...(pushUrl === undefined ? {} : { pushUrl }),
  });

  return async () => {
    stopping = true;
    http?.close();
    await receiver?.close();
    server.close();
    for (const socket of server.connections()) socket.destroy();
    await fleet.close();
  };
}

// Only when forked: the parent sends the configuration, then 'stop'.
if (process.send !== undefined) {
  let stop: (() => Promise<void>) | undefined;
  process.on('message', (message: { type: string; config?: MemberConfig }) => {
    if (message.type === 'start' && message.config !== undefined) {
      const config = message.config;
      start(config).then(
        (stopper) => (stop = stopper),
        (error: Error) => {
          send({ type: 'failed', index: config.index, message: error.message });
          process.exit(1);
        },
      );
    } else if (message.type === 'stop') {
      void (stop?.() ?? Promise.resolve()).finally(() => process.exit(0));
    }
  });
  // A member never outlives the demo.
  process.on('disconnect', () => process.exit(0));
}
