// The watch reads the server's messages off the socket as the driver receives them, in chunks
// cut anywhere: it must find a FATAL 57P01 wherever the cuts fall, and nothing else.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createBackendWatch } from '../src/backend-watch.js';

const message = (type: string, body: Buffer) => {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
};
const errorResponse = (severity: string, code: string) =>
  message(
    'E',
    Buffer.from(`S${severity}\0V${severity}\0C${code}\0Mterminating connection due to administrator command\0\0`),
  );
// a query's reply: BindComplete, DataRow, CommandComplete, ReadyForQuery
const reply = Buffer.concat([
  message('2', Buffer.alloc(0)),
  message('D', Buffer.from('\0\x01\0\0\0\x03abc')),
  message('C', Buffer.from('SELECT 1\0')),
  message('Z', Buffer.from('I')),
]);

/** Feeds `stream` to a new watch in the given chunks; whether it saw the server end a session. */
const watchSees = (stream: Buffer, cuts: number[]) => {
  const watch = createBackendWatch();
  const socket = new EventEmitter();
  watch.attach(socket as Socket);
  let at = 0;
  for (const cut of [...cuts, stream.length]) {
    socket.emit('data', stream.subarray(at, cut));
    at = cut;
  }
  return watch.serverEndedSessions();
};

describe('backend watch', () => {
  const fatal = Buffer.concat([Buffer.from('N'), reply, reply, errorResponse('FATAL', '57P01')]);
  const notFatal = Buffer.concat([Buffer.from('N'), reply, errorResponse('ERROR', '57014'), reply]);

  it('finds a FATAL 57P01 wherever the chunks are cut: whole, at each byte, in single bytes', () => {
    expect(watchSees(fatal, [])).toBe(true);
    for (let cut = 1; cut < fatal.length; cut++) expect(watchSees(fatal, [cut]), `cut at ${cut}`).toBe(true);
    expect(
      watchSees(
        fatal,
        Array.from({ length: fatal.length - 1 }, (_, i) => i + 1),
      ),
    ).toBe(true);
  });

  it('sees nothing in replies and other errors, wherever cut', () => {
    expect(watchSees(notFatal, [])).toBe(false);
    for (let cut = 1; cut < notFatal.length; cut++) expect(watchSees(notFatal, [cut]), `cut at ${cut}`).toBe(false);
    expect(watchSees(Buffer.concat([Buffer.from('N'), errorResponse('FATAL', '28P01')]), [])).toBe(false);
  });

  it('stops reading a TLS connection (its bytes are encrypted)', () => {
    expect(watchSees(Buffer.concat([Buffer.from('S'), errorResponse('FATAL', '57P01')]), [])).toBe(false);
  });
});
