// The `ts` code blocks of each public package's README, as a TypeScript module each: what a
// stranger copies from the README must compile against the published types. A block is a
// fragment of an app (it uses a `settings`, a `db`, a `bot` the app already has), so each
// module starts with those names declared, typed by our own packages; what the block imports
// it imports itself. `pnpm release:check` writes these next to the installed packages and
// type-checks them; a name a block uses and nobody declares fails the check, as a renamed
// function or option does.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// What an app has at hand when it reaches a README's example, by name. A block gets the
// declarations of the names it does not define itself.
const GIVEN = {
  logger: "declare const logger: import('@diana/utils').Logger;",
  settings: `declare const settings: import('@diana/config').Settings<{
  database: typeof import('@diana/db').DatabaseConfig;
  redis: typeof import('@diana/config').RedisConfig;
  cache: typeof import('@diana/cache').CacheConfig;
  event_bus: typeof import('@diana/event-bus').EventBusConfig;
  security: typeof import('@diana/security').SecurityConfig;
  user_state: typeof import('@diana/user-state').UserStateConfig;
  config: typeof import('@diana/config').ConfigManagerConfig;
}>;`,
  db: "declare const db: import('@diana/db').Database;",
  // the app's bus knows every package's events (the bot merges their registries the same way)
  bus: `declare const bus: import('@diana/event-bus').EventBusService<
  typeof import('@diana/config').CONFIG_EVENTS &
    typeof import('@diana/user-state').USER_STATE_EVENTS &
    typeof import('@diana/gamification').GAMIFICATION_EVENTS &
    typeof import('@diana/narrative').NARRATIVE_EVENTS &
    typeof import('@diana/admin').ADMIN_EVENTS
>;`,
  cache: "declare const cache: import('@diana/cache').CacheService;",
  connector: "declare const connector: import('@diana/redis').RedisConnector;",
  // the app's settings templates: the modules' own among them
  config:
    "declare const config: import('@diana/config').ConfigManager<typeof import('@diana/gamification').GAMIFICATION_TEMPLATES>;",
  signer: "declare const signer: import('@diana/security').CallbackSigner;",
  limiter: "declare const limiter: import('@diana/security').RateLimiter;",
  tokens: "declare const tokens: import('@diana/security').TokenService;",
  state: "declare const state: import('@diana/user-state').UserStateManager;",
  // the app's context: the flavors of the middleware it installs, and its user row
  bot: `declare const bot: import('grammy').Bot<
  import('grammy').Context &
    import('@diana/security/grammy').SecurityFlavor &
    import('@diana/user-state/grammy').UserStateFlavor & { user?: import('@diana/db').User }
>;`,
  ctx: "declare const ctx: import('grammy').Context & { from: import('grammy/types').User };",
  // db: the Telegram user of an update
  from: "declare const from: import('grammy/types').User;",
  id: 'declare const id: string;',
  // cache: where the cached value comes from
  ledger: 'declare const ledger: { balanceOf(id: string): Promise<number> };',
  // utils: a call that may fail, and what it needs
  api: "declare const api: import('grammy').Api;",
  chat: 'declare const chat: number;',
  text: 'declare const text: string;',
  signal: 'declare const signal: AbortSignal;',
  cause: 'declare const cause: unknown;',
  // security: the app's own lookups
  getRole: "declare const getRole: import('@diana/security/grammy').GetRole<import('grammy').Context>;",
  q: 'declare const q: { id: string };',
  answer: 'declare const answer: (args: readonly string[]) => Promise<unknown>;',
  tariff: 'declare const tariff: string;',
  policies: "declare const policies: Readonly<Record<string, import('@diana/security').RatePolicy>>;",
  // user-state: the bot's token, and where a choice leads
  token: 'declare const token: string;',
  next: 'declare const next: string;',
  flag: 'declare const flag: string;',
  // modules: what the app wires in
  vip_channel_id: 'declare const vip_channel_id: number;',
  main_channel_id: 'declare const main_channel_id: number;',
  decoratePost: "declare const decoratePost: import('@diana/admin').AdminDeps['decoratePost'];",
  gamification: "declare const gamification: import('@diana/gamification').GamificationModule;",
  user: "declare const user: import('@diana/db').User;",
  documents: "declare const documents: import('@diana/db').DocumentStore;",
  getBalance: 'declare const getBalance: (user_id: string) => Promise<number>;',
};

/** The `ts` blocks of a README, in order. */
export function readmeBlocks(markdown) {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
}

/** The names of GIVEN a block uses without defining them (a word match: good enough for our blocks). */
function givenFor(block) {
  const defined = new Set(
    [
      ...block.matchAll(/\b(?:const|let|function|import\s*\*\s*as)\s+(\w+)|\b(?:import|const|let)\s*\{([^}]*)\}/g),
    ].flatMap(([, single, list]) =>
      single
        ? [single]
        : list.split(',').map((part) =>
            part
              .trim()
              .split(/\s+as\s+|\s*:\s*/)
              .pop(),
          ),
    ),
  );
  // used: named outside a string ('@diana/config' names no `config`)
  const code = block.replace(/'[^'\n]*'/g, "''");
  return Object.keys(GIVEN).filter((name) => !defined.has(name) && new RegExp(`\\b${name}\\b`).test(code));
}

/**
 * Writes each README block of `packages` (names) found under `modules` (a node_modules folder),
 * and of the `more` READMEs (label → path: the repository's own, which shows the packages in
 * use), as `readme-<package or label>-<n>.mts` in `dir`; returns the file names. `.mts`: an ES
 * module whatever the scratch project's type, so a block may await at its top level.
 */
export function writeReadmeExamples(dir, modules, packages, more = {}) {
  const files = [];
  const readmes = [
    ...packages.map((name) => [name.replace('@diana/', ''), join(modules, name, 'README.md')]),
    ...Object.entries(more),
  ];
  for (const [name, path] of readmes) {
    const blocks = readmeBlocks(readFileSync(path, 'utf8'));
    blocks.forEach((block, i) => {
      const file = `readme-${name}-${i + 1}.mts`;
      const preamble = givenFor(block).map((given) => GIVEN[given]);
      writeFileSync(
        join(dir, file),
        `${preamble.join('\n')}\n// ${name} README, block ${i + 1}\n${block}\nexport {};\n`,
      );
      files.push(file);
    });
  }
  return files;
}
