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

/** A new time-ordered UUIDv7 (sortable by creation time; PostgreSQL 15 cannot make them). */
export function newId(clock: Clock = SYSTEM_CLOCK): string {
  return v7({ msecs: clock.now(), random: randomBytes16() });
}

/** True for a well-formed UUID of version 7. */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && validate(value) && version(value) === 7;
}

/** The creation time (epoch ms) embedded in a UUIDv7. */
export function getIdTime(id: string): number {
  return Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
}
