// Says at start what PostgreSQL's settings risk for what the bot keeps there (@diana/db's
// durabilityRisks: fsync, synchronous_commit, full_page_writes off). Before, nothing said it,
// and a server tuned for speed lost handled events' effects at a crash without a trace.
import { type Database, durabilityRisks, readDurabilitySettings } from '@diana/db';
import type { Logger } from '@diana/utils';

/** Each risk at error, with the settings; a server that will not say (a pooler's refusal) is left unchecked, said at debug. */
export async function checkPostgresSettings(db: Database, logger: Logger): Promise<void> {
  try {
    const settings = await readDurabilitySettings(db);
    for (const risk of durabilityRisks(settings)) logger.error({ ...settings }, risk);
  } catch (error) {
    logger.debug({ err: error }, 'could not read PostgreSQL fsync, synchronous_commit and full_page_writes');
  }
}
