// Counts the statements this process sends to PostgreSQL, by reading the frontend protocol
// messages it writes: each Execute ('E') of the extended protocol runs one statement (its text
// from the Parse that prepared it), each simple Query ('Q') one or more. Beside the socket-write
// count it shows which statements an update pays for, whatever the machine's load.
import { Socket } from 'node:net';
import { type ServerAddress, serverOf } from './socket-io.js';

/** Statements sent since the last `take()`: the total and the count per statement text. */
export interface StatementCount {
  readonly total: number;
  readonly by_text: ReadonlyMap<string, number>;
}

/** Starts counting the statements sent to `server` (a port or a socket's path); `take()` returns them and restarts. */
export function countPgStatements(server: ServerAddress): { take(): StatementCount } {
  let byText = new Map<string, number>();
  let total = 0;
  // per connection: prepared statement name → text, and the statement of the last Bind
  const prepared = new WeakMap<Socket, Map<string, string>>();
  const bound = new WeakMap<Socket, string>();
  const count = (text: string) => {
    total++;
    byText.set(text, (byText.get(text) ?? 0) + 1);
  };
  const read = (socket: Socket, buffer: Buffer) => {
    let names = prepared.get(socket);
    if (!names) {
      names = new Map<string, string>();
      prepared.set(socket, names);
    }
    let at = 0;
    while (at + 5 <= buffer.length) {
      const type = buffer[at] as number;
      const length = buffer.readInt32BE(at + 1);
      // the start-up message has no type byte: stop at anything that is not a message
      if (length < 4 || at + 1 + length > buffer.length) return;
      const body = at + 5;
      if (type === 0x50 /* P */) {
        const nameEnd = buffer.indexOf(0, body);
        const textEnd = buffer.indexOf(0, nameEnd + 1);
        names.set(buffer.toString('utf8', body, nameEnd), normalize(buffer.toString('utf8', nameEnd + 1, textEnd)));
      } else if (type === 0x42 /* B */) {
        const portalEnd = buffer.indexOf(0, body);
        const statementEnd = buffer.indexOf(0, portalEnd + 1);
        bound.set(socket, buffer.toString('utf8', portalEnd + 1, statementEnd));
      } else if (type === 0x45 /* E */) {
        count(names.get(bound.get(socket) ?? '') ?? '(unknown)');
      } else if (type === 0x51 /* Q */) {
        count(normalize(buffer.toString('utf8', body, buffer.indexOf(0, body))));
      }
      at += 1 + length;
    }
  };
  const original = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
    if (serverOf(this) === server && Buffer.isBuffer(args[0])) read(this, args[0]);
    return (original as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof original;
  return {
    take() {
      const result = { total, by_text: byText };
      byText = new Map();
      total = 0;
      return result;
    },
  };
}

// one line, at most 110 characters: enough to tell the statements apart
function normalize(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 110 ? `${line.slice(0, 107)}...` : line;
}
