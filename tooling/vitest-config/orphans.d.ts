/** Kills orphaned private redis-servers (their owner process is gone) and removes their directories; returns how many it killed. */
export declare function sweepOrphanRedis(): number;
