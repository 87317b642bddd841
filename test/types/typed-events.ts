// Type-level checks of the emitters' events, as the package's declarations present them. This file
// never runs: `npm run typecheck` compiles it, and test/typed-events.test.ts compiles it alone. Each
// `@ts-expect-error` must meet an error: if a listener's typing regressed to `any`, the unused
// directive is itself the error.
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import type { Authorizer, DecisionEvent, Server, TLSSocket } from '../../dist/index.js';

declare const server: Server;
declare const authorizer: Authorizer;

// The server's own events: listeners get their arguments typed.
server.on('decision', (event, socket) => {
  const reason: string = event.reason;
  const live: TLSSocket = socket;
  return [reason, live];
});
server.once('secureConnection', (socket) => socket.getPeerCertificateChain());
server.on('tlsClientError', (error, socket) => [error.message, socket.destroyed]);
server.on('trustChange', (what) => what === 'crl');
server.prependListener('warning', (warning) => warning.message);
// net.Server's own events stay usable, and chaining keeps the Server type.
const chained: Server = server.on('listening', () => {}).on('connection', (socket: net.Socket) => socket.remoteAddress);
server.on('close', () => {}).on('error', (error) => error.message);
server.emit('trustChange', 'ca');

// @ts-expect-error a decision listener receives a DecisionEvent, not a string
server.on('decision', (event: string) => event);
// @ts-expect-error the socket of a server's decision is its TLSSocket
server.on('decision', (event: DecisionEvent, socket: number) => [event, socket]);
// @ts-expect-error a misspelled event is not an event of the server
server.on('decisoin', () => {});
// @ts-expect-error secureConnection hands over a TLSSocket, not an Error
server.once('secureConnection', (error: Error) => error.message);
// @ts-expect-error emit checks the arguments of the event it sends
server.emit('trustChange', 'policy');

// The engine's events: a decision's socket is either tier's.
authorizer.on('decision', (event, socket: TLSSocket | tls.TLSSocket) => [event.outcome, socket]);
authorizer.once('warning', (warning) => warning.message);
// @ts-expect-error the engine's warning is an Error
authorizer.on('warning', (warning: number) => warning);
// @ts-expect-error the engine emits no such event
authorizer.on('secureConnection', () => {});

// A TLSSocket's own events and the stream events it inherits.
declare const socket: TLSSocket;
socket.on('session', (session) => session.byteLength);
socket.once('deauthorized', (decision) => decision.reason);
socket.on('reauthorized', (decision) => decision.expiresAt).on('data', (chunk) => chunk.length);
socket.on('close', (hadError) => hadError === true);
socket.on('certificate', (result) => result.chain.length);
// @ts-expect-error a session is a Buffer
socket.on('session', (session: string) => session);
// @ts-expect-error a deauthorized listener receives the Decision
socket.on('deauthorized', (decision: Error) => decision);
// @ts-expect-error a misspelled event is not an event of the socket
socket.on('secureconnect', () => {});

export { chained };

// A promise's resolve passes as the listener of an event without arguments, as with node's streams.
void new Promise((resolve) => socket.once('drain', resolve));
void new Promise((resolve) => server.once('listening', resolve));
// @ts-expect-error an event without arguments is emitted without them
socket.emit('drain', 1);
