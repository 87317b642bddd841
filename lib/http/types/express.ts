/// <reference types="express-serve-static-core" preserve="true" />
/**
 * `continuous-tls/http/express`: declares `req.authorization` on Express requests, the way
 * @types/passport declares `req.user` (an augmentation of express-serve-static-core's Request).
 * A separate entry so that apps without Express never need its types: opt in with
 * `import type {} from 'continuous-tls/http/express'` (or a plain `import` of it; it has no code).
 *
 * Optional, since only requests that went through `authz.express()` carry it.
 */
import type { RequestAuthorization } from '../authorize-request.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The decision that allowed this request, set by `authorizeRequest(...).express()`. */
    authorization?: RequestAuthorization;
  }
}
