import type { Socket } from 'node:net';

/**
 * Watches the server → client stream of a pool's connections for the one fact the driver does
 * not expose: that the server is ending this pool's sessions (FATAL 57P01 admin shutdown,
 * 57P02 crash shutdown, 57P03 cannot connect now — sent by pg_terminate_backend, a restart
 * or a crash of another backend). A statement that loses its connection during such a wave
 * did not commit: it was written to a backend that had stopped reading, or was cut off and
 * rolled back. TLS connections are not watched (their bytes are encrypted).
 */
export interface BackendWatch {
  attach(socket: Socket): void;
  /** True within `window_ms` of the last session the server ended. */
  serverEndedSessions(): boolean;
}

const TERMINATED_CODES = new Set(['57P01', '57P02', '57P03']);

/** A watch shared by every connection of one pool. */
export function createBackendWatch(window_ms = 10_000): BackendWatch {
  let lastEndedAt = Number.NEGATIVE_INFINITY;
  return {
    attach(socket) {
      socket.on(
        'data',
        createFramer((body) => {
          if (isTermination(body)) lastEndedAt = performance.now();
        }),
      );
    },
    serverEndedSessions: () => performance.now() - lastEndedAt <= window_ms,
  };
}

// Splits the stream into messages (type byte + int32 length) and hands over the bodies of
// ErrorResponse messages; everything else is skipped by length, without copying or allocating
// (this runs on every chunk the server sends: a query's reply is four or five messages).
function createFramer(onError: (body: Buffer) => void): (chunk: Buffer) => void {
  let first = true;
  let disabled = false;
  // a header split across chunks is gathered here
  const header = Buffer.alloc(5);
  let headerLength = 0;
  let isError = false;
  let remaining = 0;
  let body: Buffer[] = [];
  const startMessage = (type: number, length: number) => {
    isError = type === 0x45; /* E */
    remaining = Math.max(0, length - 4);
    if (isError) body = [];
  };
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
        if (headerLength === 0 && chunk.length - offset >= 5) {
          startMessage(chunk[offset] as number, chunk.readInt32BE(offset + 1));
          offset += 5;
        } else {
          const take = Math.min(5 - headerLength, chunk.length - offset);
          chunk.copy(header, headerLength, offset, offset + take);
          headerLength += take;
          offset += take;
          if (headerLength < 5) return;
          headerLength = 0;
          startMessage(header[0] as number, header.readInt32BE(1));
        }
        if (remaining === 0) continue;
      }
      const take = Math.min(remaining, chunk.length - offset);
      if (isError) body.push(chunk.subarray(offset, offset + take));
      offset += take;
      remaining -= take;
      if (remaining === 0 && isError) onError(body.length === 1 ? (body[0] as Buffer) : Buffer.concat(body));
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
