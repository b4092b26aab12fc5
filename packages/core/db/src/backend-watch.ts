import type { Socket } from 'node:net';

/**
 * Watches the server → client stream of pool connections for two facts the driver does not
 * expose: each connection's backend pid (BackendKeyData) and whether the server ended that
 * backend (FATAL 57P01/57P02/57P03, sent by pg_terminate_backend or a shutdown).
 *
 * A query that fails with CONNECTION_CLOSED on a backend the server had already ended was
 * written after the backend stopped reading, so it never ran: retrying it is safe. TLS
 * connections are not watched (their bytes are encrypted); they simply are not retried.
 */
export interface BackendWatch {
  attach(socket: Socket): void;
  /** True when the server ended backend `pid` within the last minute. */
  wasTerminated(pid: number | undefined): boolean;
}

const TERMINATED_CODES = new Set(['57P01', '57P02', '57P03']);
const REMEMBER_MS = 60_000;

/** A watch shared by every connection of one pool. */
export function createBackendWatch(): BackendWatch {
  const terminated = new Map<number, number>();
  return {
    attach(socket) {
      let pid: number | undefined;
      const onMessage = (type: number, body: Buffer) => {
        if (type === 0x4b /* K */ && body.length >= 4) pid = body.readInt32BE(0);
        else if (type === 0x45 /* E */ && pid !== undefined && isTermination(body)) {
          const now = Date.now();
          terminated.set(pid, now);
          for (const [oldPid, at] of terminated) if (now - at > REMEMBER_MS) terminated.delete(oldPid);
        }
      };
      socket.on('data', createFramer(onMessage));
    },
    wasTerminated: (pid) => pid !== undefined && terminated.has(pid),
  };
}

// Splits the stream into messages (type byte + int32 length). Only the bodies of the small
// messages we read (K, E) are buffered; everything else is skipped by length.
function createFramer(onMessage: (type: number, body: Buffer) => void): (chunk: Buffer) => void {
  let first = true;
  let disabled = false;
  let header = Buffer.alloc(0);
  let type = 0;
  let remaining = 0;
  let body: Buffer[] | undefined;
  return (chunk) => {
    if (disabled) return;
    let offset = 0;
    if (first) {
      first = false;
      if (chunk[0] === 0x53 /* S: TLS follows */) {
        disabled = true;
        return;
      }
      if (chunk[0] === 0x4e /* N: no TLS, plain messages follow */) offset = 1;
    }
    while (offset < chunk.length) {
      if (remaining === 0) {
        const need = 5 - header.length;
        header = Buffer.concat([header, chunk.subarray(offset, offset + need)]);
        offset += Math.min(need, chunk.length - offset);
        if (header.length < 5) return;
        type = header[0] ?? 0;
        remaining = header.readInt32BE(1) - 4;
        header = Buffer.alloc(0);
        body = type === 0x4b || type === 0x45 ? [] : undefined;
        if (remaining <= 0) {
          remaining = 0;
          if (body) onMessage(type, Buffer.alloc(0));
          continue;
        }
      }
      const take = Math.min(remaining, chunk.length - offset);
      body?.push(chunk.subarray(offset, offset + take));
      offset += take;
      remaining -= take;
      if (remaining === 0 && body) onMessage(type, Buffer.concat(body));
    }
  };
}

function isTermination(body: Buffer): boolean {
  let fatal = false;
  let code = '';
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const field = body[at];
    const end = body.indexOf(0, at + 1);
    if (end < 0) break;
    const value = body.toString('utf8', at + 1, end);
    if (field === 0x56 /* V: severity, never localized */) fatal = value === 'FATAL';
    if (field === 0x43 /* C: SQLSTATE */) code = value;
    at = end + 1;
  }
  return fatal && TERMINATED_CODES.has(code);
}
