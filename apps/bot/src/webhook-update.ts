// The webhook's body as grammY's `http` adapter reads it, checked to be an update before grammY
// sees it: `null` made grammY throw (a silent 500, and Telegram would send it again), `42` and
// `[]` were answered 200 and dropped without a word. Telegram only ever posts a JSON object with
// a numeric `update_id`; anything else is answered 400 by the caller (http.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Update } from 'grammy/types';

/** A webhook body that is JSON but not a Telegram update. */
export class NotAnUpdateError extends Error {
  override readonly name = 'NotAnUpdateError';
}

/** grammY's `http` adapter, but the update is JSON.parse's SyntaxError, a NotAnUpdateError, or an object with an update_id. */
export function updateAdapter(req: IncomingMessage, res: ServerResponse) {
  const header = req.headers['x-telegram-bot-api-secret-token'];
  return {
    // read when grammY asks (as its adapter does): a body never asked for is never read
    get update() {
      return readUpdate(req);
    },
    header: Array.isArray(header) ? header[0] : header,
    end: () => res.end(),
    respond: (json: string) => res.writeHead(200, { 'content-type': 'application/json' }).end(json),
    unauthorized: () => res.writeHead(401).end('secret token is wrong'),
  };
}

async function readUpdate(req: IncomingMessage): Promise<Update> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new NotAnUpdateError(
      `a JSON ${body === null ? 'null' : Array.isArray(body) ? 'array' : typeof body}, not an object`,
    );
  const id = (body as { update_id?: unknown }).update_id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new NotAnUpdateError('no numeric update_id');
  return body as Update;
}
