import { randomFillSync } from 'node:crypto';
import { v7, validate, version } from 'uuid';
import { type Clock, SYSTEM_CLOCK } from './clock.js';

// Random bytes are drawn 4 KiB at a time: one system call per 256 ids instead of one per id
// (ids are made on every event's path).
const POOL = new Uint8Array(4096);
let poolOffset = POOL.length;
function randomBytes16(): Uint8Array {
  if (poolOffset + 16 > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  poolOffset += 16;
  return POOL.subarray(poolOffset - 16, poolOffset);
}

// The last id's millisecond and its 32-bit counter (RFC 9562, method 3: a counter seeded at
// random each millisecond, +1 for each further id within it). Without it, two ids of one
// millisecond sorted at random: the outbox relay, which appends in id order, could relay two
// events of one transaction out of order.
let lastMsecs = Number.NEGATIVE_INFINITY;
let seq = 0;

/**
 * A new time-ordered UUIDv7 (PostgreSQL 15 cannot make them). Ids made by one process sort in
 * the order they were made, within a millisecond too; a clock that goes back starts afresh.
 */
export function newId(clock: Clock = SYSTEM_CLOCK): string {
  const random = randomBytes16();
  const now = clock.now();
  // seeded below 2^31, the counter cannot pass 2^32 (2^31 ids in one millisecond)
  if (now === lastMsecs) seq += 1;
  else {
    lastMsecs = now;
    // 31 random bits: room for 2^31 more ids in the same millisecond
    seq =
      (((random[6] as number) & 0x7f) << 24) |
      ((random[7] as number) << 16) |
      ((random[8] as number) << 8) |
      (random[9] as number);
  }
  return v7({ msecs: lastMsecs, seq, random });
}

/** True for a well-formed UUID of version 7. */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && validate(value) && version(value) === 7;
}

/** The creation time (epoch ms) embedded in a UUIDv7. */
export function getIdTime(id: string): number {
  return Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
}
