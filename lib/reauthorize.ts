/**
 * reauthorize(socket, options): re-decide one live connection now, on either
 * tier.
 */
import * as tls from 'node:tls';
import { ctlsError, invalidOption } from './common/errors.js';
import { checkObject } from './common/validate.js';
import type { SecureContext } from './tls/context.js';
import {
  Authorizer,
  type DecisionEvent,
  type ReauthorizeOptions,
  type ReauthorizeSchedule,
} from './authz/authorizer.js';
import { OwnedSubject } from './authz/subject.js';
import { authorizerOf, registerAuthorizer } from './authz/owner.js';
import { TLSSocket } from './tls/socket.js';
import type { Decision } from './common/types.js';

export type { ReauthorizeOptions, ReauthorizeSchedule, DecisionEvent };

/**
 * Re-decide `socket` now. fresh: true asks the live peer for a new
 * certificate first (owned server sockets); otherwise the presented chain is
 * revalidated against today's trust store, CRLs and clock, then the policy
 * runs. A denial destroys the socket with ERR_CTLS_DEAUTHORIZED unless
 * destroyOnDeny is false. Concurrent calls on one socket share one evaluation.
 */
export async function reauthorize(
  socket: TLSSocket | tls.TLSSocket,
  options: ReauthorizeOptions = {},
): Promise<Decision> {
  checkObject('options', options);
  if (socket.destroyed) throw ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket is closed');
  if (socket instanceof TLSSocket && socket.isServer && authorizerOf(socket) === undefined) {
    // The client may finish its handshake before the server does: wait for ours.
    await untilSecure(socket);
  }
  const known = authorizerOf(socket);
  if (known !== undefined) return known.reauthorize(socket, options);
  if (socket instanceof TLSSocket) {
    // A client socket from connect(): it checks the server's certificate.
    if (!socket.secureEstablished) throw ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the handshake has not completed');
    const authorizer = clientAuthorizerFor(socket.secureContext);
    registerAuthorizer(socket, authorizer);
    // The first decision is made on admission; when it already denies (an
    // expired or revoked server certificate) that is the answer, not a
    // second check of a socket it just closed.
    const admitted = await authorizer.admit(new OwnedSubject(socket));
    if (!admitted.allow) return admitted;
    return authorizer.reauthorize(socket, options);
  }
  if (socket instanceof tls.TLSSocket) {
    throw ctlsError(
      'ERR_CTLS_INVALID_OPTION',
      'this node:tls socket is not tracked: attach(server, { ca, crl, policy }) its server first',
    );
  }
  throw invalidOption('socket', 'a continuous-tls TLSSocket or an attached node:tls socket', socket);
}

function untilSecure(socket: TLSSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onSecure = (): void => {
      socket.removeListener('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      socket.removeListener('secure', onSecure);
      reject(ctlsError('ERR_CTLS_SOCKET_CLOSED', 'the socket closed before its handshake was authorized'));
    };
    socket.once('secure', onSecure);
    socket.once('close', onClose);
  });
}

const clientAuthorizers = new WeakMap<SecureContext, Authorizer>();

function clientAuthorizerFor(context: SecureContext): Authorizer {
  let authorizer = clientAuthorizers.get(context);
  if (authorizer === undefined) {
    // Once a client asks for decisions, the server certificate's expiry ends
    // the decision; re-checking then cuts the connection instead of leaving
    // it held with no decision coming.
    authorizer = new Authorizer({
      trust: context,
      reauthorize: { every: 0, onExpiry: true },
      requireCertificate: true,
    });
    clientAuthorizers.set(context, authorizer);
  }
  return authorizer;
}
