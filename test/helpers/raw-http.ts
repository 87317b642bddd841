/** A minimal keep-alive HTTP/1.1 client over any duplex (a node:tls or owned-tier TLSSocket). */
import type { Duplex } from 'node:stream';

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends requests one at a time on `socket` and parses Content-Length framed answers. */
export function rawHttp(
  socket: Duplex,
): (method: string, target: string, headers?: Record<string, string>) => Promise<RawReply> {
  let buffer = '';
  const waiting: Array<{ resolve: (r: RawReply) => void; reject: (e: Error) => void; head: boolean }> = [];
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      const next = waiting[0];
      if (end === -1 || next === undefined) return;
      const lines = buffer.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      const length = next.head ? 0 : Number(headers['content-length'] ?? 0);
      if (buffer.length < end + 4 + length) return;
      const body = buffer.slice(end + 4, end + 4 + length);
      buffer = buffer.slice(end + 4 + length);
      waiting.shift();
      next.resolve({ status: Number(lines[0]!.split(' ')[1]), headers, body });
    }
  });
  const fail = (error: Error): void => {
    for (const w of waiting.splice(0)) w.reject(error);
  };
  socket.on('error', fail);
  socket.on('close', () => fail(new Error('connection closed')));
  return (method, target, headers = {}) =>
    new Promise((resolve, reject) => {
      waiting.push({ resolve, reject, head: method === 'HEAD' });
      const all = Object.keys(headers).some((k) => k.toLowerCase() === 'host')
        ? headers
        : { host: 'localhost', ...headers };
      const lines = Object.entries(all)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`${method} ${target} HTTP/1.1\r\n${lines}\r\n`);
    });
}
