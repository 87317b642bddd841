/**
 * Which authorizer tracks a socket, for reauthorize(socket) from app code.
 * The answer is stored on the socket itself under the TLS layer's owner
 * symbol (as node's handles reach their owner), so there is no global table
 * and the socket needs nothing from this layer to report its decision.
 */
import { kOwner } from '../tls/socket.js';
import type { Authorizer } from './authorizer.js';

type Owned = { [kOwner]?: unknown };

export function registerAuthorizer(socket: object, authorizer: Authorizer): void {
  Object.defineProperty(socket, kOwner, { value: authorizer, configurable: true, writable: true, enumerable: false });
}

export function authorizerOf(socket: object): Authorizer | undefined {
  return ((socket as Owned)[kOwner] as Authorizer | undefined) ?? undefined;
}
