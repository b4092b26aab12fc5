import { secretUrl } from '@diana/utils';
import * as v from 'valibot';

/**
 * The `redis` section behind `DIANA_REDIS_URL` and its alias `REDIS_URL`: one URL
 * (`redis://` or `rediss://`, a secret: shown masked), shared by every package that can use
 * Redis. Unset is allowed (apps fall back to memory adapters); require it with
 * `v.object({ url: RedisConfig.entries.url.wrapped })` where Redis is mandatory.
 */
export const RedisConfig = v.object({ url: v.optional(secretUrl({ protocols: ['redis', 'rediss'] })) });
/** Parsed `RedisConfig`. */
export type RedisConfig = v.InferOutput<typeof RedisConfig>;
