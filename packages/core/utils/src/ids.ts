import { v7, validate, version } from 'uuid';
import { type Clock, SYSTEM_CLOCK } from './clock.js';

/** A new time-ordered UUIDv7 (sortable by creation time; PostgreSQL 15 cannot make them). */
export function newId(clock: Clock = SYSTEM_CLOCK): string {
  return v7({ msecs: clock.now() });
}

/** True for a well-formed UUID of version 7. */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && validate(value) && version(value) === 7;
}

/** The creation time (epoch ms) embedded in a UUIDv7. */
export function getIdTime(id: string): number {
  return Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
}
