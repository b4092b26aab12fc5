// The composition root: every dependency in layer order, each named if it fails to start,
// closed in reverse order.
import { join } from 'node:path';
import { ADMIN_EVENTS, ADMIN_MIGRATIONS, type AdminModule, createAdminModule } from '@diana/admin';
import { type CacheService, createCache } from '@diana/cache';
import { createRedisCacheStore } from '@diana/cache/adapters/redis';
import {
  CONFIG_EVENTS,
  CONFIG_MIGRATIONS,
  type ConfigManager,
  configReader,
  createConfigManager,
  defineTemplate,
  type Settings,
} from '@diana/config';
import {
  createPostgres,
  createPostgresDocumentStore,
  createUserRepository,
  type Database,
  DB_MIGRATIONS,
  type DocumentStore,
  migrate,
} from '@diana/db';
import {
  createEventBus,
  createMemoryTransport,
  createOutboxRelay,
  type DianaModule,
  EVENT_BUS_MIGRATIONS,
  type EventBusService,
  mergeEvents,
  type OutboxRelay,
  type StreamTransport,
} from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import {
  createGamificationModule,
  GAMIFICATION_EVENTS,
  GAMIFICATION_MIGRATIONS,
  GAMIFICATION_TEMPLATES,
  type GamificationModule,
} from '@diana/gamification';
import { createNarrativeModule, NARRATIVE_EVENTS, NARRATIVE_SLICES, type NarrativeModule } from '@diana/narrative';
import { createRedisConnector } from '@diana/redis';
import {
  atLeast,
  createCallbackSigner,
  createRateLimiter,
  createTokenService,
  type RateLimiter,
  SECURITY_MIGRATIONS,
  type TokenService,
} from '@diana/security';
import { createRedisRateLimitStore } from '@diana/security/adapters/redis';
import { blockBanned, outputGuard, rateLimit, verifyCallbacks } from '@diana/security/grammy';
import {
  createUserStateManager,
  USER_STATE_EVENTS,
  USER_STATE_MIGRATIONS,
  type UserStateManager,
} from '@diana/user-state';
import { createRedisStateStore } from '@diana/user-state/adapters/redis';
import { userStateMiddleware } from '@diana/user-state/grammy';
import { DianaError, isDianaError, type Logger, revealSecret } from '@diana/utils';
import { autoRetry } from '@grammyjs/auto-retry';
import { apiThrottler } from '@grammyjs/transformer-throttler';
import { Bot, type Middleware, type Transformer } from 'grammy';
import type { Update, UserFromGetMe } from 'grammy/types';
import * as v from 'valibot';
import { chatQueue } from './chat-queue.js';
import { lowercaseCommands } from './command-case.js';
import { type CommandMenu, createCommandMenu } from './command-menu.js';
import type { SETTINGS_SCHEMAS } from './config.js';
import { createMemoryDedupe, createResilientDedupe } from './dedupe.js';
import { BOT_ERROR_CODES } from './errors.js';
import { CORE_EVENTS } from './events.js';
import { createHandlers } from './handlers.js';
import { commandButton } from './main-menu.js';
import { createBotMetrics, createTelegramMetrics, registerLoopGauges } from './metrics.js';
import {
  type AppContext,
  dedupeUpdates,
  errorBoundary,
  loadUser,
  privateChatsOnly,
  upsertUser,
  userCacheKey,
} from './middleware.js';
import type { ProfileSources } from './profile.js';
import { resolveSecrets } from './secrets.js';
import { createStartGate, type StartGate } from './start-gate.js';
import { countTelegramCalls, createBlockedUsers } from './telegram.js';
import { TEXTS } from './texts.js';

/** The settings the app runs with. */
export type AppSettings = Settings<typeof SETTINGS_SCHEMAS>;

/** Rate-limit policies, editable live through ConfigManager. */
export const RATE_LIMITS = defineTemplate('security.rate_limits', {
  type: 'setting',
  // bounded so that no edit can lock anyone out for longer than a day (staff skip `updates` anyway)
  schema: v.record(
    v.string(),
    v.object({
      limit: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000)),
      window_ms: v.pipe(v.number(), v.integer(), v.minValue(1_000), v.maxValue(86_400_000)),
    }),
  ),
  defaults: {
    // sustained 1 update per 3 s per user, below Telegram's 1 message/s per chat; bursts of 20
    updates: { limit: 20, window_ms: 60_000 },
    trivia: { limit: 20, window_ms: 3_600_000 },
    purchase: { limit: 10, window_ms: 60_000 },
    bid: { limit: 1, window_ms: 5_000 },
  },
  description: 'Rate limits per user and action',
});

/** The answer to whatever no module handles (texts.ts; the main menu goes under it). */
export const HELP = TEXTS.help;

/** Every package's migrations, in layer order (modules last). */
export const ALL_MIGRATIONS = [
  DB_MIGRATIONS,
  EVENT_BUS_MIGRATIONS,
  SECURITY_MIGRATIONS,
  USER_STATE_MIGRATIONS,
  CONFIG_MIGRATIONS,
  GAMIFICATION_MIGRATIONS,
  ADMIN_MIGRATIONS,
] as const;

/** Every event type the app's bus knows (the CLI checks types against it too). */
export const ALL_EVENTS = mergeEvents(
  mergeEvents(mergeEvents(CORE_EVENTS, USER_STATE_EVENTS), mergeEvents(CONFIG_EVENTS, NARRATIVE_EVENTS)),
  mergeEvents(GAMIFICATION_EVENTS, ADMIN_EVENTS),
);

/** The live-editable settings ConfigManager holds (the bot and the CLI). */
export const CONFIG_TEMPLATES = [RATE_LIMITS, ...GAMIFICATION_TEMPLATES] as const;

/** Failures in a row after which a loop makes /readyz say not ready. */
export const LOOP_FAILURES_NOT_READY = 3;

/** One long-running loop, for /readyz and the `diana.loop.*` gauges. */
export interface LoopState {
  readonly loop: string;
  readonly running: boolean;
  readonly consecutive_failures: number;
}

/** A module as this app composes it: its composer is middleware of the app's context. */
export type AppModule = DianaModule<Middleware<AppContext>>;

/** Options the entry points (main, tests, benchmarks) pass. */
export interface AppOptions {
  /** More modules, composed after the built-in ones (their migrations are the caller's to apply). */
  readonly modules?: readonly AppModule[];
  readonly logger: Logger;
  /** Skips getMe (console chat and tests). */
  readonly botInfo?: UserFromGetMe;
  /** Installed on the Bot API client before the output guard (the console chat, a test's recorder). */
  readonly apiTransformer?: Transformer;
  /** Start-up waits and their deadline (main.ts shares it with `/readyz`); made from the settings if absent. */
  readonly gate?: StartGate;
  /** Where /perfil reads its facts; each one given replaces the app's own source of it. */
  readonly profile?: Partial<ProfileSources>;
}

/** The running app. */
export interface App {
  readonly bot: Bot<AppContext>;
  readonly db: Database;
  readonly bus: EventBusService;
  readonly state: UserStateManager<typeof NARRATIVE_SLICES>;
  readonly config: ConfigManager;
  readonly cache: CacheService;
  readonly limiter: RateLimiter;
  readonly tokens: TokenService;
  readonly narrative: NarrativeModule;
  readonly gamification: GamificationModule;
  readonly admin: AdminModule;
  /** Telegram's command menus (registered at start; staff menus follow role changes). */
  readonly commandMenu: CommandMenu;
  /** Which backend each part uses (one start-up line). */
  readonly backends: Readonly<Record<string, string>>;
  /**
   * Every dependency pinged within `timeout_ms`, every long-running loop running and not
   * failing: the names of those that are not.
   */
  checkReady(timeout_ms?: number): Promise<string[]>;
  /** Each long-running loop now (event consumers, broadcast readers, outbox relay, admin jobs). */
  loops(): LoopState[];
  handleUpdate(update: Update): Promise<void>;
  /** Reverse-order close; running handlers finish until the deadline. */
  close(timeout_ms?: number): Promise<void>;
}

/** Builds and starts everything but the transport (polling, webhook or console: main.ts). */
export async function createApp(settings: AppSettings, options: AppOptions): Promise<App> {
  const { logger } = options;
  const gate = options.gate ?? createStartGate({ start_timeout_ms: settings.bot.start_timeout_ms, logger });
  const closers: Array<{ name: string; close: () => Promise<unknown> }> = [];
  const step = async <T>(name: string, start: () => Promise<T> | T): Promise<T> => {
    try {
      return await start();
    } catch (error) {
      await closeAll(1_000).catch(() => {});
      if (isDianaError(error) && error.code === BOT_ERROR_CODES.START_TIMEOUT) throw error;
      throw new DianaError(BOT_ERROR_CODES.START_FAILED, `${name} failed to start: ${(error as Error).message}`, {
        cause: error,
        context: { dependency: name },
      });
    }
  };
  const closeAll = async (timeout_ms: number) => {
    for (const { name, close } of closers.reverse()) {
      await Promise.race([close(), new Promise((resolve) => setTimeout(resolve, timeout_ms).unref())]).catch(
        (error: unknown) => logger.warn({ err: error, dependency: name }, 'close failed'),
      );
    }
    closers.length = 0;
  };
  const withDeadline = <T>(work: Promise<T>, ms: number) =>
    Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);
  const dataDir = settings.bot.data_dir;
  const embedded = settings.database.url === undefined;

  // layer 1: database (embedded PGlite without a URL), migrations of every package in layer order
  const db = await step('postgres', async () => {
    const url = settings.database.url;
    if (url !== undefined) {
      const pool = createPostgres({ ...settings.database, url }, { logger });
      closers.push({ name: 'postgres', close: () => pool.close() });
      await gate.waitFor('postgres', () => pool.ping({ timeout_ms: 5_000 }));
      return pool;
    }
    const { createEmbeddedPostgres, ensureOwnerOnlyDirectory } = await import('@diana/db/embedded');
    // data_dir holds the database, secrets.json and bot.log: owner-only, old files included
    ensureOwnerOnlyDirectory(dataDir);
    const pglite = await createEmbeddedPostgres({ dir: join(dataDir, 'pg'), logger });
    closers.push({ name: 'postgres', close: () => pglite.close() });
    return pglite;
  });
  await step('migrations', () =>
    migrate(db, ALL_MIGRATIONS, {
      logger,
      statement_timeout_ms: settings.database.migration_statement_timeout_ms,
      lock_timeout_ms: settings.database.migration_lock_timeout_ms,
    }),
  );
  let pingMongo: ((timeout_ms: number) => Promise<unknown>) | undefined;
  const documents: DocumentStore = await step('documents', async () => {
    const url = settings.mongo.url;
    if (!url) return createPostgresDocumentStore(db);
    const { createMongo, createMongoDocumentStore } = await import('@diana/db/mongo');
    const mongo = await gate.waitFor('mongodb', () => createMongo({ ...settings.mongo, url }, { logger }));
    closers.push({ name: 'mongodb', close: () => mongo.close() });
    pingMongo = (timeout_ms) => mongo.ping({ timeout_ms });
    return createMongoDocumentStore(mongo.db);
  });

  // Redis: one connector (the one fail-fast setup of @diana/redis) hands every adapter its clients
  const connector = settings.redis.url
    ? createRedisConnector({ url: revealSecret(settings.redis.url), logger })
    : undefined;
  if (connector) {
    // closed last (closers run in reverse): every adapter closes its own clients first
    closers.push({ name: 'redis', close: () => connector.close({ timeout_ms: 1_000 }) });
    // a second per attempt at most: a Redis that is down is still reported promptly, and a healthy
    // one is not logged as a "waiting for redis" warning at every start
    await step('redis', () => gate.waitFor('redis', () => connector.ping({ timeout_ms: 1_000 })));
  }

  const cache = await step('cache', () => {
    const store = connector ? createRedisCacheStore(settings.cache, { connector, logger }) : undefined;
    const c = createCache(settings.cache, { ...(store ? { store } : {}), logger });
    closers.push({ name: 'cache', close: () => c.close() });
    return c;
  });

  // layer 2: event bus + outbox relay, security
  const events = ALL_EVENTS;
  const transport: StreamTransport = connector
    ? createRedisStreamsTransport({ connector, prefix: settings.event_bus.stream_prefix, logger })
    : createMemoryTransport();
  const bus = await step('event bus', () => {
    // with db: a publish inside db.transaction joins it through the outbox (the relay below)
    const b = createEventBus(settings.event_bus, { transport, events, db, logger });
    // closed in reverse: the bus's consumers finish (and acknowledge) before the transport closes
    closers.push({ name: 'transport', close: () => transport.close() });
    closers.push({ name: 'event bus', close: () => b.close({ timeout_ms: settings.bot.shutdown_timeout_ms / 2 }) });
    return b;
  });
  const relay: OutboxRelay = await step('outbox relay', () =>
    createOutboxRelay(settings.event_bus, { db, transport, logger }),
  );
  closers.push({ name: 'outbox relay', close: () => relay.close() });

  const security = resolveSecrets(settings.security, { embedded, data_dir: dataDir });
  const signer = await step('security', () => createCallbackSigner(security));
  const tokens = createTokenService(security, { db });
  let config: ConfigManager<typeof CONFIG_TEMPLATES> | undefined;
  const limiter = createRateLimiter(security, {
    ...(connector ? { store: createRedisRateLimitStore(security, { connector, logger }) } : {}),
    logger,
    getPolicy: (action) =>
      (config?.get('security.rate_limits') as Record<string, { limit: number; window_ms: number }> | undefined)?.[
        action
      ],
  });
  closers.push({ name: 'rate limiter', close: () => limiter.close() });

  // layer 3: user state, config manager
  const state = await step('user state', () => {
    const store = connector ? createRedisStateStore(settings.user_state, { connector, logger }) : undefined;
    const s = createUserStateManager(settings.user_state, {
      db,
      ...(store ? { store } : {}),
      bus,
      slices: NARRATIVE_SLICES,
      logger,
    });
    closers.push({ name: 'user state', close: () => s.close() });
    return s;
  });
  config = await step('config manager', async () => {
    const c = createConfigManager(settings.config, {
      db,
      bus,
      templates: CONFIG_TEMPLATES,
      logger,
    });
    closers.push({ name: 'config manager', close: () => c.close() });
    await c.start();
    return c;
  });

  // layer 4: modules (they never import each other: they talk through events)
  const gamification = await step('gamification', () => {
    const g = createGamificationModule(
      {},
      {
        db,
        bus,
        config: configReader(config, GAMIFICATION_TEMPLATES),
        cache,
        signer,
        limiter,
        timezone: settings.bot.timezone,
        logger,
        // payments are told from a consumer, long after the bot below exists
        api: () => (botRef as Bot<AppContext>).api,
      },
    );
    return g;
  });
  const narrative = await step('narrative', async () => {
    const n = createNarrativeModule(
      settings.narrative.vip_offer_url ? { vip_offer_url: settings.narrative.vip_offer_url } : {},
      {
        db,
        bus,
        state,
        documents,
        signer,
        logger,
        getBalance: (id) => gamification.ledger.balance(id),
        itemTitle: (key) => gamification.itemName(key),
        commandButton: (text, command, telegramId) => commandButton(signer, text, command, telegramId),
      },
    );
    return n;
  });
  let botRef: Bot<AppContext> | undefined;
  const commandMenu = createCommandMenu({
    api: () => (botRef as Bot<AppContext>).api,
    db,
    users: createUserRepository(db),
    owners: settings.bot.owner_telegram_ids,
    logger,
  });
  const admin: AdminModule = createAdminModule(
    {
      timezone: settings.bot.timezone,
      token_ttl_ms: settings.admin.token_ttl_ms,
      job_interval_ms: settings.admin.job_interval_ms,
      post_channel_ids: settings.admin.post_channel_ids,
      ...(settings.admin.vip_channel_id !== undefined ? { vip_channel_id: settings.admin.vip_channel_id } : {}),
      ...(settings.admin.main_channel_id !== undefined ? { main_channel_id: settings.admin.main_channel_id } : {}),
    },
    {
      db,
      bus,
      config,
      tokens,
      api: () => (botRef as Bot<AppContext>).api,
      botUsername: () => botRef?.botInfo.username ?? 'diana_bot',
      decoratePost: (post_id) => [[gamification.reactButton(post_id)]],
      balance: (user_id) => gamification.ledger.balance(user_id),
      // every process drops its cached row: a ban (or any role change) holds from the next update;
      // the user's command menu follows their role (staff see theirs)
      onRoleChanged: async (telegram_id) => {
        await cache.delete(userCacheKey(telegram_id));
        await withDeadline(commandMenu.refresh(telegram_id), 5_000).catch(() => {});
      },
      logger,
    },
  );
  // the modules, in the order they answer (admin first: it owns `/start vip_…` deep links), then
  // any the caller adds; each is closed in reverse order, started once the bot is wired
  const modules: readonly AppModule[] = [admin, narrative, gamification, ...(options.modules ?? [])];
  for (const module of modules) closers.push({ name: module.name, close: () => module.close() });
  // an id removed from owner_telegram_ids must not stay OWNER: nothing else can demote one
  await step('owners', () => admin.syncOwners(settings.bot.owner_telegram_ids));
  for (const module of modules)
    for (const subscription of module.subscriptions) {
      const { skipped } = bus.subscribeModule(subscription);
      if (skipped.length > 0)
        logger.debug({ module: module.name, group: subscription.group, skipped }, 'no publisher for these events yet');
    }

  // layer 5: the bot
  const users = createUserRepository(db);
  const blocked = createBlockedUsers(users, logger, cache.namespace('blocked'));
  const metrics = createBotMetrics();
  const token = settings.bot.telegram_bot_token ? revealSecret(settings.bot.telegram_bot_token) : '0:console';
  const bot = new Bot<AppContext>(token, {
    ...(options.botInfo ? { botInfo: options.botInfo } : {}),
    client: settings.bot.telegram_api_root ? { apiRoot: settings.bot.telegram_api_root } : {},
  });
  // grammY runs the last installed transformer first: guard → retries → throttle → blocked users →
  // count → network. The 403 mark is read right before each attempt reaches the network (after the
  // throttler's queue and each auto-retry wait), so a user who blocked the bot meanwhile — seen by
  // another process — is not written to; a test's apiTransformer stands for the network.
  if (options.apiTransformer) bot.api.config.use(options.apiTransformer);
  bot.api.config.use(countTelegramCalls(createTelegramMetrics()));
  bot.api.config.use(blocked.transformer);
  if (!options.apiTransformer) bot.api.config.use(apiThrottler());
  // getMe before the retrying transformer: the start gate's attempts and deadline bound it, not auto-retry's backoff
  if (options.botInfo === undefined)
    await step('telegram', () =>
      gate.waitFor('telegram', (signal) => bot.init(signal as Parameters<typeof bot.init>[0])),
    );
  bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 60 }));
  bot.api.config.use(outputGuard());
  const getRole = (ctx: AppContext) => ctx.user?.role;
  const dedupe = connector
    ? createResilientDedupe(connector.command({ name: 'update-dedupe' }), settings.event_bus.stream_prefix, (error) =>
        logger.warn({ err: error }, 'update dedupe: Redis unavailable, this process remembers alone'),
      )
    : createMemoryDedupe();
  bot.use(dedupeUpdates(dedupe, metrics));
  bot.use(errorBoundary(logger, metrics));
  bot.use(privateChatsOnly());
  bot.use(chatQueue({ onDrop: (ctx) => metrics.record(ctx.callbackQuery ? 'callback' : 'message', 'dropped', 0) }));
  bot.use(loadUser(users, cache));
  bot.use(blockBanned(getRole));
  bot.use(rateLimit(limiter, 'updates', { exempt: (ctx) => atLeast(ctx.user?.role ?? 'FREE', 'MODERATOR') }));
  bot.use(
    upsertUser({
      db,
      users,
      bus,
      owners: settings.bot.owner_telegram_ids,
      unblock: blocked.unblock,
      isBlocked: blocked.has,
      cache,
    }),
  );
  bot.use(userStateMiddleware(state, { getUserId: (ctx) => ctx.user?.id }));
  bot.use(verifyCallbacks(signer));
  bot.use(lowercaseCommands());
  botRef = bot;
  bot.use(
    createHandlers({
      signer,
      logger,
      timezone: settings.bot.timezone,
      profile: {
        besitos: (user_id) => gamification.summary(user_id),
        vipUntil: async (user_id) => (await admin.subscription(user_id))?.ends_at,
        ...options.profile,
      },
      modules: modules.map((module) => module.composer),
    }),
  );
  for (const module of modules) await step(module.name, () => module.start());
  // Telegram's command menus; a slow Telegram does not hold the start up past a few seconds
  const menus = commandMenu.registerAll();
  closers.push({ name: 'command menus', close: () => menus });
  await withDeadline(menus, 5_000).catch(() => logger.warn('command menus still registering; going on'));

  const backends = {
    database: embedded ? `embedded PGlite (${join(dataDir, 'pg')})` : 'postgresql',
    documents: settings.mongo.url ? 'mongodb' : 'postgresql',
    event_bus: transport.name,
    cache: connector ? 'memory + redis' : 'memory',
    user_state: `${state.backends.persistent} / ${state.backends.ephemeral}`,
    rate_limits: limiter.backend,
  };

  const loops = (): LoopState[] => [
    ...bus.loops().map((loop) => ({
      loop: loop.group === '*broadcast*' ? `broadcast ${loop.types.join(',')}` : `consumer ${loop.group}`,
      running: loop.running,
      consecutive_failures: loop.consecutive_failures,
    })),
    { loop: 'outbox relay', ...relay.status() },
    { loop: 'admin jobs', ...admin.jobsStatus() },
  ];
  const unregisterGauges = registerLoopGauges(loops);
  closers.push({ name: 'loop gauges', close: async () => unregisterGauges() });

  return {
    bot,
    db,
    bus,
    state,
    config,
    cache,
    limiter,
    tokens,
    narrative,
    gamification,
    admin,
    commandMenu,
    backends,
    async checkReady(timeout_ms = 2_000) {
      const checks: Array<[string, () => Promise<unknown>]> = [['postgres', () => db.ping({ timeout_ms })]];
      if (connector) checks.push(['redis', () => connector.ping({ timeout_ms })]);
      if (pingMongo) checks.push(['mongodb', () => (pingMongo as (ms: number) => Promise<unknown>)(timeout_ms)]);
      const results = await Promise.all(
        checks.map(async ([name, ping]) => {
          try {
            await withDeadline(ping(), timeout_ms);
            return undefined;
          } catch {
            return name;
          }
        }),
      );
      // three failures in a row (a second or more of backoff), not one transient blip
      const stuck = loops()
        .filter((loop) => !loop.running || loop.consecutive_failures >= LOOP_FAILURES_NOT_READY)
        .map((loop) => (loop.running ? `${loop.loop} failing` : `${loop.loop} stopped`));
      return [...results.filter((name): name is string => name !== undefined), ...stuck];
    },
    loops,
    handleUpdate: (update) => bot.handleUpdate(update),
    close: (timeout_ms = settings.bot.shutdown_timeout_ms) => closeAll(timeout_ms),
  };
}
