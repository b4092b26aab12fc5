// The composition root: every dependency in layer order, each named if it fails to start,
// closed in reverse order. Layer 1 (storage) is backends.ts, layer 5 (the bot) pipeline.ts,
// the data (migrations, events, templates) catalog.ts. About 320 lines: layers 2–4 stay here so
// the start order reads top to bottom in one place.
import { join } from 'node:path';
import { type AdminModule, createAdminModule } from '@diana/admin';
import { type CacheService, createCache } from '@diana/cache';
import { createRedisCacheStore } from '@diana/cache/adapters/redis';
import { type ConfigManager, configReader, createConfigManager } from '@diana/config';
import { createUserRepository, type Database } from '@diana/db';
import {
  createEventBus,
  createMemoryTransport,
  createOutboxRelay,
  type DianaModule,
  type EventBusService,
  type OutboxRelay,
  type StreamTransport,
} from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createGamificationModule, GAMIFICATION_TEMPLATES, type GamificationModule } from '@diana/gamification';
import { createNarrativeModule, NARRATIVE_SLICES, type NarrativeModule } from '@diana/narrative';
import {
  createCallbackSigner,
  createRateLimiter,
  createTokenService,
  type RateLimiter,
  type TokenService,
} from '@diana/security';
import { createRedisRateLimitStore } from '@diana/security/adapters/redis';
import { createUserStateManager, type UserStateManager } from '@diana/user-state';
import { createRedisStateStore } from '@diana/user-state/adapters/redis';
import type { Logger } from '@diana/utils';
import type { Bot, Middleware, Transformer } from 'grammy';
import type { Update, UserFromGetMe } from 'grammy/types';
import { isRedisRefusal, startBackends } from './backends.js';
import { ALL_EVENTS, type AppSettings, CONFIG_TEMPLATES } from './catalog.js';
import { type CommandMenu, createCommandMenu } from './command-menu.js';
import { createHandlers } from './handlers.js';
import { commandButton } from './main-menu.js';
import { registerLoopGauges } from './metrics.js';
import { type AppContext, userCacheKey } from './middleware.js';
import { createBotPipeline } from './pipeline.js';
import type { ProfileSources } from './profile.js';
import { type LoopState, notReady } from './readiness.js';
import { checkRedisSettings } from './redis-connection.js';
import { resolveSecrets } from './secrets.js';
import { settle } from './settle.js';
import { createStartGate, type StartGate } from './start-gate.js';
import { createStartup, withDeadline } from './startup.js';

export {
  ALL_EVENTS,
  ALL_MIGRATIONS,
  type AppSettings,
  CONFIG_TEMPLATES,
  HELP,
  RATE_LIMITS,
} from './catalog.js';
export { LOOP_FAILURES_NOT_READY, type LoopState } from './readiness.js';

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
  /** Each long-running loop now (event consumers, broadcast readers, outbox relay, admin jobs, and those `watch` added). */
  loops(): LoopState[];
  /** Adds a loop started outside the app (long polling) to `loops`, `/readyz` and the loop gauges. */
  watch(loop: () => LoopState): void;
  handleUpdate(update: Update): Promise<void>;
  /**
   * `true` once every event published so far is handled (`settle.ts`), `false` when `timeout_ms`
   * passes first (the events stay for the next start); rejects when the database does not answer.
   */
  settle(options: { readonly timeout_ms: number }): Promise<boolean>;
  /** Reverse-order close; running handlers finish until the deadline (each close gets `timeout_ms`, default `bot.shutdown_timeout_ms`). */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}

/** Builds and starts everything but the transport (polling, webhook or console: main.ts). */
export async function createApp(settings: AppSettings, options: AppOptions): Promise<App> {
  const { logger } = options;
  const gate = options.gate ?? createStartGate({ start_timeout_ms: settings.bot.start_timeout_ms, logger });
  const startup = createStartup(logger);
  const { step, onClose } = startup;
  // before anything connects, waits or migrates: a real database needs configured secrets (named
  // at once when missing); the embedded default generates its own under the data directory
  const security = resolveSecrets(settings.security, {
    embedded: settings.database.url === undefined,
    data_dir: settings.bot.data_dir,
  });

  // layer 1: database and migrations, documents, Redis
  const { db, documents, connector, embedded, pings } = await startBackends(settings, { startup, gate, logger });
  const cache = await step('cache', () => {
    const store = connector ? createRedisCacheStore(settings.cache, { connector, logger }) : undefined;
    const c = createCache(settings.cache, { ...(store ? { store } : {}), logger });
    onClose('cache', () => c.close());
    return c;
  });

  // layer 2: event bus + outbox relay, security
  const transport: StreamTransport = connector
    ? createRedisStreamsTransport(
        {
          prefix: settings.event_bus.stream_prefix,
          max_len: settings.event_bus.max_len,
          partitions: settings.event_bus.partitions,
          wait_replicas: settings.event_bus.wait_replicas,
          wait_timeout_ms: settings.event_bus.wait_timeout_ms,
        },
        { connector, logger },
      )
    : createMemoryTransport({ max_len: settings.event_bus.max_len });
  const bus = await step('event bus', () => {
    // with db: a publish inside db.transaction joins it through the outbox (the relay below)
    const b = createEventBus(settings.event_bus, { transport, events: ALL_EVENTS, db, logger });
    // closed in reverse: the bus's consumers finish (and acknowledge) before the transport closes
    onClose('transport', () => transport.close());
    onClose('event bus', () => b.close({ timeout_ms: settings.bot.shutdown_timeout_ms / 2 }));
    return b;
  });
  // over the memory transport an entry appended before its groups exist counts as handled: the
  // relay's passes start once the modules have subscribed (below)
  let subscribed: (() => void) | undefined;
  const start = connector
    ? undefined
    : new Promise<void>((resolve) => {
        subscribed = resolve;
      });
  const relay: OutboxRelay = await step('outbox relay', () =>
    createOutboxRelay(settings.event_bus, { db, transport, logger, ...(start ? { start } : {}) }),
  );
  onClose('outbox relay', () => relay.close());

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
  onClose('rate limiter', () => limiter.close());

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
    onClose('user state', () => s.close());
    return s;
  });
  config = await step('config manager', async () => {
    const c = createConfigManager(settings.config, { db, bus, templates: CONFIG_TEMPLATES, logger });
    onClose('config manager', () => c.close());
    await c.start();
    return c;
  });
  // the modules' handlers run on the bus's consumers: those drain after the modules have closed
  // (their jobs no longer publish) and before anything a handler uses closes (config manager, user
  // state, limiter), or a handler caught by a deploy fails, is retried and dead-lettered; the
  // bus's own close (layer 2) then finds it done
  onClose('event handlers', () => bus.close({ timeout_ms: settings.bot.shutdown_timeout_ms / 2 }));

  // layer 4: modules (they never import each other: they talk through events and ports)
  // the bot is built last (layer 5); modules reach its API only once it runs
  let botRef: Bot<AppContext> | undefined;
  const api = () => (botRef as Bot<AppContext>).api;
  const gamification = await step('gamification', () =>
    createGamificationModule(
      { notice_retention_ms: settings.gamification.notice_retention_ms },
      {
        db,
        bus,
        config: configReader(config, GAMIFICATION_TEMPLATES),
        signer,
        limiter,
        timezone: settings.bot.timezone,
        logger,
        api,
      },
    ),
  );
  const narrative = await step('narrative', () =>
    createNarrativeModule(settings.narrative.vip_offer_url ? { vip_offer_url: settings.narrative.vip_offer_url } : {}, {
      db,
      bus,
      state,
      documents,
      signer,
      logger,
      getBalance: (id) => gamification.ledger.balance(id),
      itemTitle: (key) => gamification.itemName(key),
      commandButton: (text, command, telegramId) => commandButton(signer, text, command, telegramId),
    }),
  );
  const users = createUserRepository(db);
  const commandMenu = createCommandMenu({ api, db, users, owners: settings.bot.owner_telegram_ids, logger });
  const admin: AdminModule = createAdminModule(
    {
      timezone: settings.bot.timezone,
      token_ttl_ms: settings.admin.token_ttl_ms,
      job_interval_ms: settings.admin.job_interval_ms,
      post_claim_lease_ms: settings.admin.post_claim_lease_ms,
      post_channel_ids: settings.admin.post_channel_ids,
      ...(settings.admin.vip_channel_id !== undefined ? { vip_channel_id: settings.admin.vip_channel_id } : {}),
      ...(settings.admin.main_channel_id !== undefined ? { main_channel_id: settings.admin.main_channel_id } : {}),
    },
    {
      db,
      bus,
      config,
      tokens,
      api,
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
  for (const module of modules) onClose(module.name, () => module.close());
  // an id removed from owner_telegram_ids must not stay OWNER: nothing else can demote one
  await step('owners', () => admin.syncOwners(settings.bot.owner_telegram_ids));
  for (const module of modules)
    for (const subscription of module.subscriptions) {
      const { skipped } = bus.subscribeModule(subscription);
      if (skipped.length > 0)
        logger.debug({ module: module.name, group: subscription.group, skipped }, 'no publisher for these events yet');
    }
  subscribed?.();

  // layer 5: the bot
  const bot = await createBotPipeline(settings, {
    db,
    users,
    bus,
    cache,
    connector,
    limiter,
    signer,
    state,
    startup,
    gate,
    logger,
    botInfo: options.botInfo,
    apiTransformer: options.apiTransformer,
    outsideActions: [gamification.reactAction],
  });
  botRef = bot;
  // every Redis client made so far has its connection (on a cluster, its slot map): a command
  // client fails fast while it connects, and the first update must not meet one that does (the
  // gate's whole attempt: a dozen cluster clients fetch their slots at once on a busy machine)
  if (connector) {
    await step('redis clients', () =>
      gate.waitFor('redis', () => connector.ready({ timeout_ms: 5_000 }), { final: isRedisRefusal }),
    );
    await checkRedisSettings(connector, logger);
  }
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
  onClose('command menus', () => menus);
  await withDeadline(menus, 5_000).catch(() => logger.warn('command menus still registering; going on'));

  const watched: Array<() => LoopState> = [];
  const loops = (): LoopState[] => [
    ...bus.loops().map((loop) => ({
      // a group reads with one loop per subscription: named by its types too, so /readyz and the
      // gauges tell its loops apart (one name for all said "consumer narrative failing" three times
      // and reported three gauges with one label)
      loop: `${loop.group === '*broadcast*' ? 'broadcast' : `consumer ${loop.group}`} ${loop.types.join(',')}`,
      running: loop.running,
      consecutive_failures: loop.consecutive_failures,
    })),
    { loop: 'outbox relay', ...relay.status() },
    { loop: 'admin jobs', ...admin.jobsStatus() },
    ...watched.map((read) => read()),
  ];
  const unregisterGauges = registerLoopGauges(loops);
  onClose('loop gauges', async () => unregisterGauges());

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
    backends: {
      database: embedded ? `embedded PGlite (${join(settings.bot.data_dir, 'pg')})` : 'postgresql',
      documents: settings.mongo.url ? 'mongodb' : 'postgresql',
      event_bus: transport.name,
      cache: connector ? 'memory + redis' : 'memory',
      user_state: `${state.backends.persistent} / ${state.backends.ephemeral}`,
      rate_limits: limiter.backend,
    },
    checkReady: (timeout_ms = 2_000) => notReady(pings, loops(), timeout_ms),
    loops,
    watch: (loop) => void watched.push(loop),
    handleUpdate: (update) => bot.handleUpdate(update),
    settle: ({ timeout_ms }) => settle({ db, bus }, timeout_ms),
    close: (options = {}) => startup.closeAll(options.timeout_ms ?? settings.bot.shutdown_timeout_ms),
  };
}
