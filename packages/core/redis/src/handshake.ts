// A command time limit bounds commands, not the connection's handshake.
import { Redis } from 'ioredis';

type Command = Parameters<Redis['sendCommand']>[0];
type Stream = Parameters<Redis['sendCommand']>[1];

const send = Redis.prototype.sendCommand;

/** What ioredis 6 sends while a connection shakes hands (`getHandshakeCommands`, the ready check). */
const HANDSHAKE_COMMANDS: ReadonlySet<string> = new Set(['hello', 'auth', 'select', 'client', 'readonly', 'info']);

/** `sendCommand` of a client with a command limit: its handshake's commands are sent without it. */
function sendWithoutHandshakeLimit(this: Redis, command: Command, stream?: Stream): unknown {
  if (this.status !== 'connect' || !HANDSHAKE_COMMANDS.has(command.name)) return send.call(this, command, stream);
  const settings = this.options;
  const limit = settings.commandTimeout;
  settings.commandTimeout = undefined;
  try {
    return send.call(this, command, stream);
  } finally {
    settings.commandTimeout = limit;
  }
}

/**
 * ioredis bounds the handshake of every connection (HELLO, AUTH, SELECT, CLIENT SETNAME and
 * SETINFO, the INFO ready check) by `commandTimeout` too. A limit meant for commands that is
 * shorter than a handshake on a busy machine or a slow link (the rate limiter's 250 ms; a dozen
 * cluster connections made at once) failed every handshake, and the client reconnected over and
 * over without ever being ready.
 *
 * Here the handshake's commands get no command limit. Instead, a server that sends no byte back
 * within `connectTimeout` (ioredis's default 10 s) of the connection is given up on: the client
 * reports `no answer to the connection handshake within N ms` as an error and connects again. A
 * server that answers (one loading its data says so, and ioredis asks again) is left to finish.
 * Commands of the application keep their limit, even those queued during the handshake.
 */
export function limitCommandsNotHandshake(client: Redis): void {
  const settings = client.options;
  if (settings.commandTimeout === undefined) return;
  const handshakeMs = settings.connectTimeout ?? 10_000;
  // (one function for every client, not a closure each: a call site that has seen it stays
  // monomorphic however many clients are made, e.g. a cache instance per test or tenant)
  client.sendCommand = sendWithoutHandshakeLimit;
  let timer: NodeJS.Timeout | undefined;
  client.on('connect', () => {
    clearTimeout(timer);
    const stream = client.stream;
    const answered = () => clearTimeout(timer);
    stream.once('data', answered);
    timer = setTimeout(() => {
      stream.off('data', answered);
      if (client.status !== 'connect' || client.stream !== stream) return;
      client.emit('error', new Error(`no answer to the connection handshake within ${handshakeMs} ms`));
      client.disconnect(true);
    }, handshakeMs);
  });
  for (const event of ['ready', 'close', 'end']) client.on(event, () => clearTimeout(timer));
}
