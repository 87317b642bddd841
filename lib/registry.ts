/** Which authorizer tracks a socket, for reauthorize(socket) from app code. */
import type { Authorizer } from './authorizer.js';

const authorizers = new WeakMap<object, Authorizer>();

export function registerAuthorizer(socket: object, authorizer: Authorizer): void {
  authorizers.set(socket, authorizer);
}

export function authorizerOf(socket: object): Authorizer | undefined {
  return authorizers.get(socket);
}
