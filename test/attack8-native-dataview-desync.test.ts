// Attack (eighth outside review): write() and send() take "the Buffers among" their values
// (CollectPieces in native/tls_connection.cc), and napi_is_buffer answers true for every
// ArrayBufferView, a DataView included. node-addon-api's Buffer<char>::Data() and Length() read it
// through napi_get_typedarray_info, which fails for a DataView: with C++ exceptions disabled the
// failure leaves a pending "Invalid argument" (an Error without a code) and the DataView counts as
// empty, but the call goes on. The other Buffers are sealed (SSL_write: their records take sequence
// numbers) and then, the exception pending, write() cannot hand the ciphertext back: it is dropped.
// The record stream is now missing records, so the next record the peer receives fails with
// bad_record_mac and the connection dies. On the native path send() runs the same Seal and then
// FlushToTransport before it returns (read from the code): the records go out on the socket while
// the caller is told the write failed.
// TLSSocket itself only passes Buffers (Writable refuses a DataView), so this needs the handle; it
// is the class of "a JS value the native side trusts without checking" fixed for other entry points.
//
// Shown: after handshaking two handles in memory, client.write([A, DataView, B]) throws an uncoded
// Error, and the next ordinary write no longer decrypts at the server.
//
// Suggested fix: in WriteValues/CollectPieces, check every value before anything is sealed: accept
// typed arrays (napi_is_typedarray) and read a DataView with napi_get_dataview_info, or refuse the
// whole call with a coded error (ERR_CTLS_INVALID_OPTION) before SSL_write runs; never seal when a
// Node-API call has left an exception pending.
import t from 'tap';
import { native } from '../dist/tls/native.js';
import { contextHandle, createSecureContext } from '../dist/tls/context.js';
import { certs } from './helpers/certs';

interface Handle {
  cycle(ciphertext?: Buffer): [Buffer | null, Buffer | null, number, (Error & { code?: string }) | null];
  write(data: unknown): [null, Buffer | null, number, Error | null, number, number];
  destroy(): void;
}

function handshakenPair(): { client: Handle; server: Handle } {
  const serverContext = createSecureContext({ key: certs.serverKey, cert: certs.serverChain }, true);
  const clientContext = createSecureContext({ ca: certs.ca }, false);
  const server = new native.TlsConnection(contextHandle(serverContext), true, {});
  const client = new native.TlsConnection(contextHandle(clientContext), false, { servername: 'localhost' });
  let toServer = client.cycle()[1];
  for (let i = 0; i < 10 && toServer !== null; i++) {
    const toClient = server.cycle(toServer)[1];
    toServer = toClient === null ? null : client.cycle(toClient)[1];
  }
  return { client: client as unknown as Handle, server: server as unknown as Handle };
}

t.test('a DataView among the values of a write leaves the record stream intact', async (t) => {
  const { client, server } = handshakenPair();
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  const warmUp = client.write(Buffer.from('hello'));
  t.equal(server.cycle(warmUp[1]!)[0]?.toString(), 'hello', 'the pair works');

  let thrown: (Error & { code?: string }) | null = null;
  let sent: Buffer | null = null;
  try {
    sent = client.write([Buffer.from('AAAA'), new DataView(new ArrayBuffer(4)), Buffer.from('BBBB')])[1];
  } catch (error) {
    thrown = error as Error & { code?: string };
  }
  if (thrown !== null) t.match(thrown.code, /^ERR_/, `a refusal is a coded error (got: ${thrown.message})`);
  if (sent !== null) server.cycle(sent);

  const after = client.write(Buffer.from('after'));
  const [plaintext, , , error] = server.cycle(after[1]!);
  t.equal(error, null, `the next record decrypts at the peer (got: ${error?.message})`);
  t.equal(plaintext?.toString(), 'after', 'and carries the next write');
});

t.test('ciphertext given to cycle() as a DataView is read as its bytes or refused with a coded error', async (t) => {
  const { client, server } = handshakenPair();
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  const sealed = client.write(Buffer.from('after'))[1]!;
  const view = new DataView(sealed.buffer, sealed.byteOffset, sealed.length);
  let result: ReturnType<Handle['cycle']> | null = null;
  try {
    result = server.cycle(view as unknown as Buffer);
  } catch (error) {
    t.equal((error as Error & { code?: string }).code, 'ERR_CTLS_INVALID_OPTION', 'refused with a coded error');
    // Refused whole: the same bytes as a Buffer still decrypt.
    result = server.cycle(sealed);
  }
  t.equal(result[3], null, 'no TLS failure');
  t.equal(result[0]?.toString(), 'after', 'the record decrypts');
});
