// What a commit's durability rests on. The ledger's balances, the outbox and the inbox are
// PostgreSQL rows, and a consumer acknowledges an event in Redis once its transaction committed:
// a server that acknowledges a commit it can still lose (`synchronous_commit = off`), or that
// never forces its log to disk (`fsync = off`), loses that event's effect at a crash for good,
// and nothing in the bot can tell. These settings are the operator's; the bot only says them.
import type { Database } from './postgres.js';

/** The durability settings this database's sessions get (per database and role, as the server says). */
export interface DurabilitySettings {
  readonly fsync: string;
  readonly synchronous_commit: string;
  readonly full_page_writes: string;
}

/** Reads the settings a commit's durability rests on, as a session of `db` sees them. */
export async function readDurabilitySettings(db: Database): Promise<DurabilitySettings> {
  const [row] = await db.sql<DurabilitySettings[]>`
    select current_setting('fsync') as fsync, current_setting('synchronous_commit') as synchronous_commit,
           current_setting('full_page_writes') as full_page_writes`;
  if (!row) throw new Error('current_setting returned no row');
  return row;
}

/** What those settings risk, each a sentence for the operator: none when each is at its safe value. */
export function durabilityRisks(settings: DurabilitySettings): string[] {
  const risks: string[] = [];
  if (settings.fsync === 'off')
    risks.push(
      'PostgreSQL runs with fsync off: a crash of its host can lose or corrupt committed transactions (balances, the outbox, handled events); set fsync on',
    );
  if (settings.synchronous_commit === 'off')
    risks.push(
      "PostgreSQL's synchronous_commit is off for the bot's sessions: a PostgreSQL crash loses the last commits it acknowledged, and an event whose handling they held is lost for good (its Redis entry is acknowledged); set synchronous_commit on",
    );
  if (settings.full_page_writes === 'off')
    risks.push(
      'PostgreSQL runs with full_page_writes off: a crash of its host can leave torn pages that its recovery cannot repair; set full_page_writes on',
    );
  return risks;
}
