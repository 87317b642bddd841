/**
 * Real third-party TLS peers on loopback for interop tests: `openssl s_client`, `openssl s_server`
 * and Python's ssl module (test/helpers/python/*.py). Each runs as a child process whose output is
 * collected and can be awaited; every wait has a timeout and every child has a maximum lifetime, so
 * a forgotten peer cannot hang the test run. Callers still close them in t.teardown.
 *
 * Command letters (OpenSSL 3.0 apps/s_client.c and apps/s_server.c, checked against 3.0.19):
 * - s_client reads a line starting with 'R' as "renegotiate" (client-initiated, TLS 1.2 only), 'k'
 *   / 'K' as a TLS 1.3 KeyUpdate (K also asks the peer to update) and 'Q' as quit — but only when
 *   neither -ign_eof nor -quiet is given (-quiet implies -ign_eof). So data mode (`-ign_eof`, the
 *   default here) and command mode (`commands: true`) are exclusive. In command mode stdin EOF quits.
 * - s_server, unless -quiet/-brief, reads "r\n" as renegotiate, "R\n" as renegotiate requesting a
 *   client certificate, "c\n" as a TLS 1.3 post-handshake CertificateRequest, "k\n"/"K\n" as
 *   KeyUpdate; any chunk starting with 'q' closes the connection and 'Q' stops the server.
 * - Both tools test only the first byte of each read(2) from stdin: a command must arrive in its own
 *   chunk, so write it only after earlier data has been consumed (await its effect first).
 * - `-cert` loads only the first certificate of a file: intermediates go in `-cert_chain`.
 * - Without `-msg` a post-handshake CertificateRequest or a renegotiation is invisible in s_client's
 *   output apart from "read R BLOCK"; with `msg: true` it prints "<<< TLS 1.3, Handshake [...],
 *   CertificateRequest" followed by ">>> … Certificate", "CertificateVerify", "Finished". s_server's
 *   verify callback prints "depth=0 CN = <client>" on stderr each time it checks a client chain.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Peer {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything the child wrote so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved in arrival order: what waitFor searches. */
  readonly output: string;
  /** Resolves when the child has exited and its output is fully read. */
  readonly exited: Promise<ExitInfo>;
  /**
   * Resolves with the first match in `output` at or after offset `from` (use `index + [0].length` of
   * a previous match to wait for the next occurrence). Rejects on timeout or when the child exits
   * without printing it; the error message carries the output.
   */
  waitFor(pattern: RegExp | string, timeoutMs?: number, from?: number): Promise<RegExpExecArray>;
  /** Writes to the child's stdin (ignored once it has gone). */
  write(data: string | Buffer): void;
  /** SIGTERM, then SIGKILL after 2 s; resolves with the exit. */
  close(): Promise<ExitInfo>;
}

export interface PeerOptions {
  /** Kill the child after this long whatever happens. Default 60 s. */
  lifetimeMs?: number;
}

const DEFAULT_WAIT_MS = 5_000;
const DEFAULT_LIFETIME_MS = 60_000;
const KILL_GRACE_MS = 2_000;

class PeerProcess implements Peer {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<ExitInfo>;
  #stdout = '';
  #stderr = '';
  #output = '';
  #done = false;
  readonly #listeners = new Set<() => void>();
  readonly #description: string;

  constructor(command: string, args: string[], options: PeerOptions & { env?: NodeJS.ProcessEnv } = {}) {
    this.#description = [command, ...args].join(' ');
    this.child = spawn(command, args, { env: { ...process.env, ...options.env }, stdio: 'pipe' });
    this.child.stdout.setEncoding('utf8').on('data', (s: string) => this.#append(s, 'stdout'));
    this.child.stderr.setEncoding('utf8').on('data', (s: string) => this.#append(s, 'stderr'));
    // EPIPE when the peer has already exited is expected in tests that make it fail.
    this.child.stdin.on('error', () => {});
    const lifetime = setTimeout(() => this.child.kill('SIGKILL'), options.lifetimeMs ?? DEFAULT_LIFETIME_MS);
    lifetime.unref();
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.on('error', (err) => {
        this.#append(`\n[spawn error: ${err.message}]\n`, 'stderr');
        // A child that never started emits no 'close'.
        if (this.child.pid === undefined) resolve({ code: null, signal: null });
      });
      this.child.on('close', (code, signal) => resolve({ code, signal }));
    }).then((info) => {
      clearTimeout(lifetime);
      this.#done = true;
      this.#notify();
      return info;
    });
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  get output(): string {
    return this.#output;
  }

  write(data: string | Buffer): void {
    if (this.child.stdin.writable) this.child.stdin.write(data);
  }

  waitFor(pattern: RegExp | string, timeoutMs = DEFAULT_WAIT_MS, from = 0): Promise<RegExpExecArray> {
    // A private, non-global copy: exec() on a shared /g regex would carry lastIndex across calls.
    const regex =
      typeof pattern === 'string'
        ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    const find = (): RegExpExecArray | null => {
      const match = regex.exec(this.#output.slice(from));
      if (match) match.index += from;
      return match;
    };
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const match = find();
        if (match) {
          finish();
          resolve(match);
        } else if (this.#done) {
          finish();
          reject(this.#failure(`exited before printing ${String(pattern)}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(this.#failure(`did not print ${String(pattern)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }

  async close(): Promise<ExitInfo> {
    if (!this.#done) {
      this.child.kill('SIGTERM');
      const force = setTimeout(() => this.child.kill('SIGKILL'), KILL_GRACE_MS);
      await this.exited;
      clearTimeout(force);
    }
    return this.exited;
  }

  #append(text: string, stream: 'stdout' | 'stderr'): void {
    if (stream === 'stdout') this.#stdout += text;
    else this.#stderr += text;
    this.#output += text;
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  #failure(what: string): Error {
    const tail = this.#output.length > 4000 ? '…' + this.#output.slice(-4000) : this.#output;
    return new Error(`${this.#description}\n${what}; output:\n${tail}`);
  }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function versionArgs(options: { tls12?: boolean; tls13?: boolean }): string[] {
  if (options.tls12 && options.tls13) throw new Error('tls12 and tls13 are exclusive: set at most one');
  if (options.tls13) return ['-tls1_3'];
  if (options.tls12) return ['-tls1_2'];
  return [];
}

function alpnArgs(alpn: string | string[] | undefined): string[] {
  if (alpn === undefined) return [];
  return ['-alpn', Array.isArray(alpn) ? alpn.join(',') : alpn];
}

// ---------------------------------------------------------------------------------------------
// openssl s_client

export interface OpensslClientOptions extends PeerOptions {
  port: number;
  host?: string;
  /** File paths. `cert` is the leaf; intermediates go in `certChain` (s_client reads one cert). */
  cert?: string;
  key?: string;
  certChain?: string;
  CAfile?: string;
  tls13?: boolean;
  tls12?: boolean;
  /** Offer TLS 1.3 post-handshake authentication (the ClientHello extension). */
  enablePha?: boolean;
  servername?: string;
  alpn?: string | string[];
  sessOut?: string;
  sessIn?: string;
  /** Interpret command letters instead of sending every byte (drops -ign_eof; see the top). */
  commands?: boolean;
  /** -msg: print every handshake message (makes PHA and renegotiation visible). */
  msg?: boolean;
  extraArgs?: string[];
}

export interface OpensslClient extends Peer {
  /** Resolves once the handshake is done (s_client printed its session summary). */
  handshake(timeoutMs?: number): Promise<void>;
  /** Client-initiated TLS 1.2 renegotiation ('R'); needs `commands: true`. Resolves once s_client started it. */
  renegotiate(timeoutMs?: number): Promise<void>;
  /** TLS 1.3 KeyUpdate ('k', or 'K' to ask the peer to update too); needs `commands: true`. */
  keyUpdate(requestPeerUpdate?: boolean, timeoutMs?: number): Promise<void>;
}

export function opensslClient(options: OpensslClientOptions): OpensslClient {
  const { port, host = '127.0.0.1' } = options;
  const args = ['s_client', '-connect', hostPort(host, port)];
  if (options.enablePha) args.push('-enable_pha');
  if (options.cert !== undefined) args.push('-cert', options.cert);
  if (options.key !== undefined) args.push('-key', options.key);
  if (options.certChain !== undefined) args.push('-cert_chain', options.certChain);
  if (options.CAfile !== undefined) args.push('-CAfile', options.CAfile);
  args.push(...versionArgs(options));
  if (options.servername !== undefined) args.push('-servername', options.servername);
  args.push(...alpnArgs(options.alpn));
  if (options.sessOut !== undefined) args.push('-sess_out', options.sessOut);
  if (options.sessIn !== undefined) args.push('-sess_in', options.sessIn);
  if (options.msg) args.push('-msg');
  if (!options.commands) args.push('-ign_eof');
  args.push(...(options.extraArgs ?? []));

  return new OpensslClientProcess(args, options);
}

class OpensslClientProcess extends PeerProcess implements OpensslClient {
  readonly #commands: boolean;

  constructor(args: string[], options: OpensslClientOptions) {
    super('openssl', args, options);
    this.#commands = options.commands === true;
  }

  async handshake(timeoutMs?: number): Promise<void> {
    // print_stuff() writes this line once the handshake has completed.
    await this.waitFor(/SSL handshake has read \d+ bytes/, timeoutMs);
  }

  renegotiate(timeoutMs?: number): Promise<void> {
    return this.#command('R', /RENEGOTIATING/, timeoutMs);
  }

  keyUpdate(requestPeerUpdate = false, timeoutMs?: number): Promise<void> {
    return this.#command(requestPeerUpdate ? 'K' : 'k', /KEYUPDATE/, timeoutMs);
  }

  async #command(letter: string, echo: RegExp, timeoutMs: number | undefined): Promise<void> {
    if (!this.#commands) throw new Error('opensslClient: command letters need { commands: true }');
    const from = this.output.length;
    this.write(letter + '\n');
    await this.waitFor(echo, timeoutMs, from);
  }
}

// ---------------------------------------------------------------------------------------------
// openssl s_server

export interface OpensslServerOptions extends PeerOptions {
  /** 0 (default): the kernel picks a free port, which s_server reports in its ACCEPT line. */
  port?: number;
  host?: string;
  /** File paths. `cert` is the leaf; intermediates go in `certChain`. */
  cert: string;
  key: string;
  certChain?: string;
  /** Trust anchors for client certificates. */
  CAfile?: string;
  /** Ask for a client certificate in the handshake ('request') or demand one ('require'). */
  verify?: 'request' | 'require';
  /** Fail the handshake on a bad client chain (s_server's default only prints it). Default true. */
  verifyReturnError?: boolean;
  tls13?: boolean;
  tls12?: boolean;
  alpn?: string | string[];
  /**
   * Let a renegotiation resume the session. Default false (-no_resumption_on_reneg): a resumed
   * renegotiation carries no CertificateRequest, which is never what a re-authentication test wants.
   */
  resumptionOnReneg?: boolean;
  /** Exit after this many connections. */
  naccept?: number;
  msg?: boolean;
  extraArgs?: string[];
  /** How long to wait for s_server to start listening. Default 5 s. */
  startTimeoutMs?: number;
}

export interface OpensslServer extends Peer {
  readonly port: number;
  /** Resolves once a client completed a handshake (s_server printed "CIPHER is"). */
  handshake(timeoutMs?: number, from?: number): Promise<void>;
  /** TLS 1.3: send a post-handshake CertificateRequest ("c"). The client must have offered PHA. */
  requestPostHandshakeAuth(): void;
  /** TLS 1.2: server-initiated renegotiation, by default requesting a client certificate ("R" / "r"). */
  renegotiate(requestCert?: boolean): void;
  /** TLS 1.3 KeyUpdate ("k", or "K" to ask the client to update too). */
  keyUpdate(requestPeerUpdate?: boolean): void;
}

const VERIFY_DEPTH = '10';

export async function opensslServer(options: OpensslServerOptions): Promise<OpensslServer> {
  const { port = 0, host = '127.0.0.1' } = options;
  // Port 0 is fine: OpenSSL 3 prints the bound address ("ACCEPT 127.0.0.1:40123"), so no race
  // between picking a free port and binding it.
  const args = ['s_server', '-accept', hostPort(host, port), '-cert', options.cert, '-key', options.key];
  if (options.certChain !== undefined) args.push('-cert_chain', options.certChain);
  if (options.CAfile !== undefined) args.push('-CAfile', options.CAfile);
  // The number after -verify/-Verify is the verification depth limit, not a flag.
  if (options.verify === 'request') args.push('-verify', VERIFY_DEPTH);
  if (options.verify === 'require') args.push('-Verify', VERIFY_DEPTH);
  if (options.verifyReturnError !== false) args.push('-verify_return_error');
  args.push(...versionArgs(options), ...alpnArgs(options.alpn));
  if (!options.resumptionOnReneg) args.push('-no_resumption_on_reneg');
  if (options.naccept !== undefined) args.push('-naccept', String(options.naccept));
  if (options.msg) args.push('-msg');
  args.push(...(options.extraArgs ?? []));

  const server = new OpensslServerProcess(args, options);
  try {
    await server.started(options.startTimeoutMs ?? DEFAULT_WAIT_MS);
  } catch (err) {
    await server.close();
    throw err;
  }
  return server;
}

class OpensslServerProcess extends PeerProcess implements OpensslServer {
  #port = 0;

  constructor(args: string[], options: OpensslServerOptions) {
    super('openssl', args, options);
  }

  get port(): number {
    return this.#port;
  }

  async started(timeoutMs: number): Promise<void> {
    const accept = await this.waitFor(/^ACCEPT\s+\S*:(\d+)\s*$/m, timeoutMs);
    this.#port = Number(accept[1]);
  }

  async handshake(timeoutMs?: number, from?: number): Promise<void> {
    await this.waitFor(/^CIPHER is /m, timeoutMs, from);
  }

  requestPostHandshakeAuth(): void {
    this.write('c\n');
  }

  renegotiate(requestCert = true): void {
    this.write(requestCert ? 'R\n' : 'r\n');
  }

  keyUpdate(requestPeerUpdate = false): void {
    this.write(requestPeerUpdate ? 'K\n' : 'k\n');
  }
}

// ---------------------------------------------------------------------------------------------
// python3 ssl clients (test/helpers/python)

export type PythonScript = 'pha_client.py' | 'plain_client.py';

export interface PythonClient extends Peer {
  /** Resolves with the server certificate's CN once the handshake is done (the PEER_CERT line). */
  handshake(timeoutMs?: number): Promise<string>;
}

/**
 * Runs a script from test/helpers/python, e.g.
 * `pythonClient('pha_client.py', ['--port', String(port), '--ca', keyPath('ca'), '--cert', …])`.
 * Output protocol: PROTOCOL:, PEER_CERT:, RECV:, CLOSED: lines (see pha_client.py).
 */
export function pythonClient(scriptName: PythonScript, args: string[], options: PeerOptions = {}): PythonClient {
  return new PythonClientProcess(join(__dirname, 'python', scriptName), args, options);
}

class PythonClientProcess extends PeerProcess implements PythonClient {
  constructor(script: string, args: string[], options: PeerOptions) {
    super('python3', [script, ...args], { ...options, env: { PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' } });
  }

  async handshake(timeoutMs?: number): Promise<string> {
    const match = await this.waitFor(/^PEER_CERT:(.*)$/m, timeoutMs);
    return match[1] ?? '';
  }
}
