// The app's settings: every component's config section, read once by loadSettings.
import { CacheConfig } from '@diana/cache';
import {
  CONFIG_ERROR_CODES,
  ConfigManagerConfig,
  type LoadSettingsOptions,
  loadSettings,
  RedisConfig,
  type Settings,
} from '@diana/config';
import { DatabaseConfig, MAX_RETENTION_MS, MongoConfig } from '@diana/db';
import { EventBusConfig, inboxRetentionTooShort } from '@diana/event-bus';
import { SecurityConfig, webhookSecret } from '@diana/security';
import { UserStateConfig } from '@diana/user-state';
import {
  coerceBoolean,
  coerceDuration,
  coerceInt,
  coerceList,
  type Issue,
  secret,
  timeZone,
  urlString,
  ValidationError,
} from '@diana/utils';
import * as v from 'valibot';

/** The bot itself (`DIANA_BOT_*`; the token also as `TELEGRAM_BOT_TOKEN`). */
export const BotConfig = v.object({
  /** Without a token the bot opens the console chat. */
  telegram_bot_token: v.optional(secret({ minLength: 10 })),
  /** Set: webhook mode on `http_port` (path `/telegram`); unset: long polling. */
  webhook_url: v.optional(urlString({ protocols: ['https'] })),
  /**
   * Telegram's `secret_token`: 32–256 characters of A-Z a-z 0-9 _ - (a short one can be guessed;
   * Telegram refuses others). Required with `webhook_url`.
   */
  webhook_secret: v.optional(webhookSecret(32)),
  /** A webhook body larger than this is refused (413) before it is read. */
  webhook_max_body_bytes: v.optional(coerceInt({ min: 1_024, max: 64 * 1_048_576 }), 1_048_576),
  /**
   * Telegram's `max_connections` for the webhook (its default is 40): updates it sends at once.
   * An update that meets PostgreSQL down holds its connection up to `outage_wait_ms`, so 40 let
   * 4 updates a second in during an outage and the rest queued at Telegram.
   */
  webhook_max_connections: v.optional(coerceInt({ min: 1, max: 100 }), 100),
  /** Call setWebhook on start (off behind a load balancer that another process configures). */
  set_webhook: v.optional(coerceBoolean(), true),
  http_port: v.optional(coerceInt({ min: 0, max: 65_535 }), 8080),
  http_host: v.optional(v.string(), '0.0.0.0'),
  /** Unset: /readyz and /metrics answer loopback clients only, on `http_port`. Set: their own listener. */
  ops_port: v.optional(coerceInt({ min: 0, max: 65_535 })),
  ops_host: v.optional(v.string(), '127.0.0.1'),
  /** Another Bot API server (a local one, or a fake in tests). */
  telegram_api_root: v.optional(urlString({ protocols: ['http', 'https'] })),
  owner_telegram_ids: v.optional(coerceList(coerceInt({ min: 1 })), []),
  /** The bot's days and dates (daily gift, caps, /perfil, scheduled posts): an IANA name. */
  timezone: v.optional(timeZone(), 'Europe/Madrid'),
  shutdown_timeout_ms: v.optional(coerceDuration({ min: 100 }), 10_000),
  /** How long an update that meets PostgreSQL down keeps trying before the apology (a try under way then finishes; 0: one try). */
  outage_wait_ms: v.optional(coerceDuration({ min: 0 }), 10_000),
  /** How long start waits for PostgreSQL, Redis, MongoDB and Telegram to answer before it gives up (exit 1). */
  start_timeout_ms: v.optional(coerceDuration({ min: 1_000 }), 60_000),
  /** Where the embedded database and generated secrets live. */
  data_dir: v.optional(v.string(), '.diana'),
  log_level: v.optional(v.picklist(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
  /** Log lines go to this file; '-' sends them to stdout (stderr in the console chat). Unset: stdout, or `data_dir/bot.log` in the console chat. */
  log_file: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** The OpenTelemetry `service.name` of this process's metrics (also `OTEL_SERVICE_NAME`). */
  service_name: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(255)), 'diana-bot'),
});
/** Parsed `BotConfig`. */
export type BotConfig = v.InferOutput<typeof BotConfig>;

/** The admin module (`DIANA_ADMIN_*`). */
export const AdminSection = v.object({
  /** The private VIP channel (invite links on redeem, removal on expiry). */
  vip_channel_id: v.optional(coerceInt()),
  /** The channel scheduled posts go to. */
  main_channel_id: v.optional(coerceInt()),
  /** More chats a CONTENT_CREATOR may schedule posts to (comma-separated); others need ADMIN. */
  post_channel_ids: v.optional(
    coerceList(coerceInt({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })),
    [],
  ),
  // a lifetime stored with the token, not a timer: up to a year
  token_ttl_ms: v.optional(coerceDuration({ min: 60_000, max: 365 * 86_400_000 }), 7 * 86_400_000),
  /** How often each process runs the subscription and scheduled-post jobs (they are multi-process safe). */
  job_interval_ms: v.optional(coerceDuration({ min: 1_000 }), 30_000),
  /** A scheduled post's claim not renewed for this long (its process died mid-send) is taken over. */
  post_claim_lease_ms: v.optional(coerceDuration({ min: 1_000 }), 60_000),
});

/** The narrative module (`DIANA_NARRATIVE_*`). */
export const NarrativeSection = v.object({
  /** Where the "Hazme VIP" button of a VIP lock leads (e.g. https://t.me/your_admin); unset: no button. */
  vip_offer_url: v.optional(urlString({ protocols: ['https'] })),
});

/** The gamification module (`DIANA_GAMIFICATION_*`). */
export const GamificationSection = v.object({
  /** How long a told payment notice is kept (what a user was told, and when); 0 keeps them all; at most 10 years. */
  notice_retention_ms: v.optional(coerceDuration({ min: 0, max: MAX_RETENTION_MS }), 7 * 86_400_000),
});

/** Redis for every part that can use it (`DIANA_REDIS_URL`, `REDIS_URL`); unset: memory adapters. */
export const RedisSection = RedisConfig;
/** The database section with an optional URL: unset means embedded PGlite. */
export const DatabaseSection = v.object({ ...DatabaseConfig.entries, url: v.optional(DatabaseConfig.entries.url) });
/** MongoDB is optional: unset means documents on PostgreSQL. */
export const MongoSection = v.object({ ...MongoConfig.entries, url: v.optional(MongoConfig.entries.url) });

/** Every section the app reads. */
export const SETTINGS_SCHEMAS = {
  bot: BotConfig,
  database: DatabaseSection,
  redis: RedisSection,
  mongo: MongoSection,
  cache: CacheConfig,
  event_bus: EventBusConfig,
  security: SecurityConfig,
  user_state: UserStateConfig,
  config: ConfigManagerConfig,
  admin: AdminSection,
  gamification: GamificationSection,
  narrative: NarrativeSection,
} as const;

/**
 * Every section's settings (`loadSettings` over SETTINGS_SCHEMAS: `env` defaults to the
 * process's), and what no section can say alone: a webhook URL needs its secret (without one,
 * Telegram would be told to post updates the server then refuses: it serves none without a
 * secret) and a token (without one the bot opens the console chat, which a piped-in empty input
 * ends at once, exit 0). Problems throw `E_CONFIG_SETTINGS_INVALID`, as `loadSettings` does.
 */
export function loadAppSettings(
  env?: Readonly<Record<string, string | undefined>>,
  options: LoadSettingsOptions = {},
): Settings<typeof SETTINGS_SCHEMAS> {
  const settings = loadSettings(SETTINGS_SCHEMAS, env, options);
  const issues: Issue[] = [];
  if (settings.bot.webhook_url !== undefined && settings.bot.webhook_secret === undefined)
    issues.push({
      path: 'DIANA_BOT_WEBHOOK_SECRET',
      message:
        'is required with DIANA_BOT_WEBHOOK_URL (Telegram sends it with each update; 32–256 characters of A-Z a-z 0-9 _ -) [bot.webhook_secret]',
    });
  if (settings.bot.webhook_url !== undefined && settings.bot.telegram_bot_token === undefined)
    issues.push({
      path: 'DIANA_BOT_TELEGRAM_BOT_TOKEN',
      message:
        'is required with DIANA_BOT_WEBHOOK_URL (without a token the bot opens the console chat) [bot.telegram_bot_token]',
    });
  // the outbox relay refuses it too (E_BUS_CONFIG), but only once it is created, mid-start
  if (inboxRetentionTooShort(settings.event_bus))
    issues.push({
      path: 'DIANA_EVENT_BUS_INBOX_RETENTION_MS',
      message: `must be 0 or at least DIANA_EVENT_BUS_DEDUPE_TTL_MS (${settings.event_bus.dedupe_ttl_ms}): an event appended again after its inbox record is gone would run again [event_bus.inbox_retention_ms]`,
    });
  if (issues.length > 0)
    throw new ValidationError(CONFIG_ERROR_CODES.SETTINGS_INVALID, `invalid settings (${issues.length})`, issues);
  return settings;
}
