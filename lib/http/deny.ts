/**
 * The answer to a refused request on node:http and Express: the app's `onDeny` hook first, then the
 * default RFC 9457 problem unless the hook sent its own response. A hook may only add headers
 * (`res.setHeader`) and leave the answer to the default. A hook that throws gets a bare 500 problem:
 * neither the refusal's reason nor the error reaches the client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendInternalError, sendRefusal, type RequestRefusal } from './problem.js';

/**
 * Shapes the answer to a refused request. `refusal` is the default answer (status, headers, body)
 * and, when a decision was made, the decision with its full reason. Writing the response (or at
 * least its headers) before the returned promise settles replaces the default answer.
 */
export type DenyHook = (req: IncomingMessage, res: ServerResponse, refusal: RequestRefusal) => unknown;

export async function answerRefusal(
  req: IncomingMessage,
  res: ServerResponse,
  refusal: RequestRefusal,
  onDeny: DenyHook | undefined,
): Promise<void> {
  if (onDeny !== undefined) {
    try {
      await onDeny(req, res, refusal);
    } catch (err) {
      sendInternalError(res, err);
      return;
    }
  }
  // Headers out means the hook answered (it may still be streaming a body): leave the response to it.
  if (!res.headersSent) sendRefusal(res, refusal);
}
