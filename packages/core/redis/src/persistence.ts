// What Redis keeps on disk. The relay marks an outbox row published once Redis has its entry, and
// dead letters and the update dedupe marks live only in Redis: without an append-only file a
// restart takes back everything since the last RDB snapshot (everything, with no snapshot).
import { mastersOf, type RedisClient } from './connector.js';

/**
 * Whether each master keeps an append-only file (`INFO persistence`'s `aof_enabled`: CONFIG may be
 * disabled on a hosted Redis; a server that does not say is left out).
 */
export async function readAppendOnly(client: RedisClient): Promise<boolean[]> {
  const answers = await Promise.all(
    mastersOf(client).map(async (node) => /^aof_enabled:(\d)/m.exec(await node.info('persistence'))?.[1]),
  );
  return answers.filter((answer) => answer !== undefined).map((answer) => answer !== '0');
}

/**
 * What the masters' persistence risks for Diana's keys: undefined when every one keeps an
 * append-only file; else a sentence for the operator.
 */
export function persistenceRisk(appendOnly: readonly boolean[]): string | undefined {
  const without = appendOnly.filter((on) => !on).length;
  if (without === 0) return undefined;
  const who = without < appendOnly.length ? `${without} of ${appendOnly.length} Redis masters run` : 'Redis runs';
  return `${who} without an append-only file (appendonly no): a restart loses what came after the last RDB snapshot, or everything without one; the relay appends the outbox rows of the last lost_stream_replay_ms again, but dead letters, update dedupe marks and older events are gone; set appendonly yes`;
}
