// The ConfigManager: templates in code, instances and revisions in PostgreSQL, values served from
// memory (live.ts) and kept current by `config.changed` events. This file is the write side and
// the wiring; the contract is manager-types.ts, the input checks checks.ts.

import type { Subscription } from '@diana/event-bus';
import {
  createCloser,
  createFailureStreak,
  DianaError,
  getPackageLogger,
  newId,
  parseOrThrow,
  runPeriodically,
  waitWithin,
} from '@diana/utils';
import { toJsonSchema } from '@valibot/to-json-schema';
import { checkId, checkMeta, checkScope, checkTemplateValues, usage, validate } from './checks.js';
import { CONFIG_ERROR_CODES } from './errors.js';
import {
  type ConfigInstance,
  changeInstance,
  getActive,
  getInstance,
  getKeyRevisions,
  getRevisions,
  insertInstance,
  listInstances,
  lockInstance,
} from './instances.js';
import { createLiveValues, templateOf as findTemplate } from './live.js';
import {
  type ConfigManager,
  ConfigManagerConfig,
  type ConfigManagerConfigInput,
  type ConfigManagerDeps,
} from './manager-types.js';
import type { TemplateDefinition } from './templates.js';

/**
 * The manager over `db` (instances, revisions, outbox) and `bus` (`config.changed` in
 * broadcast mode; its registry must include `CONFIG_EVENTS`). Each write runs in
 * `db.transaction` and its `config.changed` joins it through the outbox of `db` (named in the
 * publish, whatever bus this is). Writes called inside the caller's own transaction join that
 * one (savepoints); reads (`history`, `instance`, `list`) too.
 */
export function createConfigManager<const T extends readonly TemplateDefinition[]>(
  config: ConfigManagerConfigInput,
  deps: ConfigManagerDeps<T>,
): ConfigManager<T> {
  const settings = parseOrThrow(ConfigManagerConfig, config, {
    code: CONFIG_ERROR_CODES.CONFIG_USAGE,
    message: 'invalid config manager config',
  });
  const { db, bus } = deps;
  const logger = getPackageLogger(deps.logger, 'config');
  const templates = new Map<string, TemplateDefinition>();
  for (const template of deps.templates) {
    if (templates.has(template.key)) throw usage(`template '${template.key}' is defined twice`);
    templates.set(template.key, template);
  }
  const templateOf = (key: string) => findTemplate(templates, key);
  const live = createLiveValues({ db, templates, keep_last_known_good: settings.keep_last_known_good, logger });
  let started = false;
  let subscription: Subscription | undefined;
  // the periodic resync: a failing one (PostgreSQL down) warns once, is tried at the next
  // interval, and says when resyncs work again
  const stopResyncs = new AbortController();
  let resyncs: Promise<void> | undefined;

  // ---- writes -----------------------------------------------------------------------------

  // Called inside db.transaction: the event joins it through the outbox. `db` named, so that
  // this holds on a bus created without it (published before the commit, a process would read
  // the old row and drop the change). Once the outermost transaction commits, this process
  // serves the change at once (it reads its own write: `publish` resolves after that); the
  // event tells every other process.
  const emit = async (row: ConfigInstance) => {
    await bus.publish(
      'config.changed',
      { key: row.template_key, scope: row.scope, instance_id: row.id, seq: row.seq },
      { key: row.template_key, db },
    );
    await db.onCommit(() => live.onWrite(row));
  };
  const locked = async (id: string) => {
    const row = await lockInstance(db.session(), id);
    if (!row)
      throw new DianaError(CONFIG_ERROR_CODES.CONFIG_NOT_FOUND, `no config instance ${id}`, { context: { id } });
    return row;
  };
  const closer = createCloser(async ({ timeout_ms }) => {
    stopResyncs.abort();
    // (a resync under way ends with the pool; not waited for past the close's time)
    await waitWithin(resyncs ?? Promise.resolve(), timeout_ms ?? 1_000);
    await subscription?.close(timeout_ms === undefined ? {} : { timeout_ms });
  });

  const manager: ConfigManager<T> = {
    templates: deps.templates,
    async start() {
      if (started) return;
      for (const template of templates.values()) {
        const jsonSchema = toJsonSchema(template.schema, { errorMode: 'ignore' });
        await db.sql`
          insert into config_templates (key, type, description, json_schema, defaults)
          values (${template.key}, ${template.type}, ${template.description}, ${JSON.stringify(jsonSchema)}::text::jsonb,
                  ${JSON.stringify(template.defaults)}::text::jsonb)
          on conflict (key) do update set type = excluded.type, description = excluded.description,
            json_schema = excluded.json_schema, defaults = excluded.defaults, updated_at = now()`;
      }
      await live.load(true);
      started = true;
      subscription = bus.subscribe('config.changed', (event) => live.onEvent(event.payload), {
        mode: 'broadcast',
        onResync: () => live.load(false),
      });
      if (settings.resync_interval_ms > 0)
        resyncs = runPeriodically(
          {
            interval_ms: settings.resync_interval_ms,
            signal: stopResyncs.signal,
            failures: createFailureStreak({
              logger,
              message: 'periodic config resync failed; tried again at the next interval',
              recovered: 'periodic config resyncs work again',
            }),
          },
          () => live.load(false),
        );
    },

    get(key, options = {}) {
      if (!started) throw usage('ConfigManager.get before start()');
      const scope = options.scope ?? 'global';
      return live.resolve(key, scope) as never;
    },

    async createDraft(key, values, meta) {
      const template = templateOf(key);
      const scope = meta.scope ?? 'global';
      checkScope(scope);
      checkMeta(meta);
      const valid = checkTemplateValues(template, values);
      return db.transaction(() =>
        insertInstance(db.session(), {
          id: newId(),
          template_key: key,
          scope,
          values: valid,
          actor: meta.actor,
          reason: meta.reason,
        }),
      );
    },

    async updateDraft(id, values, meta) {
      checkId(id);
      checkMeta(meta);
      return db.transaction(async () => {
        const sql = db.session();
        const current = await locked(id);
        if (current.status !== 'draft')
          throw new DianaError(
            CONFIG_ERROR_CODES.CONFIG_STATE,
            `instance ${id} is ${current.status}; only drafts are edited`,
            { context: { id, status: current.status } },
          );
        if (meta.expected_version !== undefined && meta.expected_version !== current.version)
          throw new DianaError(
            CONFIG_ERROR_CODES.CONFIG_CONFLICT,
            `instance ${id} is at version ${current.version}, not ${meta.expected_version}`,
            { context: { id, version: current.version } },
          );
        const template = templateOf(current.template_key);
        const valid = checkTemplateValues(template, values);
        return changeInstance(sql, current, {
          values: valid,
          newSeq: false,
          action: 'update',
          actor: meta.actor,
          reason: meta.reason,
        });
      });
    },

    async publish(id, meta) {
      checkId(id);
      checkMeta(meta);
      return db.transaction(async () => {
        const sql = db.session();
        const draft = await locked(id);
        if (draft.status !== 'draft')
          throw new DianaError(CONFIG_ERROR_CODES.CONFIG_CONFLICT, `instance ${id} is already ${draft.status}`, {
            context: { id, status: draft.status },
          });
        // still valid for the code running now
        validate(templateOf(draft.template_key), draft.values, `instance ${id} values`);
        // one publisher per (template, scope) at a time
        await sql`select pg_advisory_xact_lock(hashtext(${`config:${draft.template_key}:${draft.scope}`}))`;
        const previous = await getActive(sql, draft.template_key, draft.scope);
        if (previous) {
          const locked_previous = await locked(previous.id);
          await changeInstance(sql, locked_previous, {
            status: 'archived',
            newSeq: false,
            action: 'archive',
            actor: meta.actor,
            reason: `replaced by ${id}: ${meta.reason}`,
          });
        }
        const published = await changeInstance(sql, draft, {
          status: 'active',
          newSeq: true,
          action: 'publish',
          actor: meta.actor,
          reason: meta.reason,
        });
        await emit(published);
        return published;
      });
    },

    async archive(id, meta) {
      checkId(id);
      checkMeta(meta);
      return db.transaction(async () => {
        const sql = db.session();
        const current = await locked(id);
        if (current.status === 'archived')
          throw new DianaError(CONFIG_ERROR_CODES.CONFIG_STATE, `instance ${id} is already archived`, {
            context: { id },
          });
        const wasActive = current.status === 'active';
        const archived = await changeInstance(sql, current, {
          status: 'archived',
          newSeq: wasActive,
          action: 'archive',
          actor: meta.actor,
          reason: meta.reason,
        });
        if (wasActive) await emit(archived);
        return archived;
      });
    },

    async rollback(id, revision, meta) {
      checkId(id);
      checkMeta(meta);
      return db.transaction(async () => {
        const sql = db.session();
        const current = await locked(id);
        if (current.status === 'archived')
          throw new DianaError(
            CONFIG_ERROR_CODES.CONFIG_STATE,
            `instance ${id} is archived; publish a new draft instead`,
            { context: { id } },
          );
        const target = (await getRevisions(sql, id)).find((r) => r.revision === revision);
        if (!target)
          throw new DianaError(CONFIG_ERROR_CODES.CONFIG_NOT_FOUND, `instance ${id} has no revision ${revision}`, {
            context: { id, revision },
          });
        const valid = validate(templateOf(current.template_key), target.values, `revision ${revision} values`);
        const active = current.status === 'active';
        const rolled = await changeInstance(sql, current, {
          values: valid,
          newSeq: active,
          action: 'rollback',
          actor: meta.actor,
          reason: `to revision ${revision}: ${meta.reason}`,
        });
        if (active) await emit(rolled);
        return rolled;
      });
    },

    history: async (id) => {
      checkId(id);
      return getRevisions(db.session(), id);
    },
    keyHistory: async (key, { scope = 'global' } = {}) => {
      templateOf(key);
      checkScope(scope);
      return getKeyRevisions(db.session(), key, scope);
    },
    async restore(key, number, meta) {
      templateOf(key);
      const scope = meta.scope ?? 'global';
      checkScope(scope);
      checkMeta(meta);
      const sql = db.session();
      const entry = (await getKeyRevisions(sql, key, scope)).find((r) => r.number === number);
      if (!entry)
        throw new DianaError(CONFIG_ERROR_CODES.CONFIG_NOT_FOUND, `${key} has no revision ${number}`, {
          context: { key, scope, number },
        });
      const active = await getActive(sql, key, scope);
      const { actor, reason } = meta;
      if (active?.id === entry.instance_id) return manager.rollback(active.id, entry.revision, { actor, reason });
      // an archived (or never published) instance's values: a new instance, made and published as
      // a set makes one (its draft's revision, then the archive of the active one and its publish)
      const change = { actor, reason: `restores #${number}: ${reason}` };
      const draft = await manager.createDraft(key as never, entry.values, { ...change, scope });
      return manager.publish(draft.id, change);
    },
    instance: async (id) => {
      checkId(id);
      return getInstance(db.session(), id);
    },
    list: (filter = {}) => listInstances(db.session(), filter),

    onChange: (key, listener) => live.listen(key, listener as never),
    resync: () => live.load(false),
    stats: () => ({ ...live.counts }),
    close: closer.close,
    [Symbol.asyncDispose]: closer[Symbol.asyncDispose],
  };
  return manager;
}
