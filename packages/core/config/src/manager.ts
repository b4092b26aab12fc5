import type { Database } from '@diana/db';
import type { EventBusService, EventRegistry, Subscription } from '@diana/event-bus';
import {
  type Closeable,
  coerceBoolean,
  coerceDuration,
  createCloser,
  type DeepReadonly,
  DianaError,
  deepFreeze,
  fromValibotIssues,
  getPackageLogger,
  type Logger,
  newId,
  parseOrThrow,
  ValidationError,
} from '@diana/utils';
import { toJsonSchema } from '@valibot/to-json-schema';
import * as v from 'valibot';
import { CONFIG_ERROR_CODES } from './errors.js';
import type { CONFIG_EVENTS } from './events.js';
import {
  type ConfigInstance,
  type ConfigRevision,
  changeInstance,
  getActive,
  getInstance,
  getRevisions,
  type InstanceStatus,
  insertInstance,
  listActive,
  listInstances,
  lockInstance,
} from './instances.js';
import type { TemplateDefinition } from './templates.js';

/** ConfigManager settings (`DIANA_CONFIG_*`). */
export const ConfigManagerConfig = v.object({
  /** On start, serve the last valid revision of an active instance that no longer validates (instead of refusing to start). */
  keep_last_known_good: v.optional(coerceBoolean(), false),
  /** Full reload from PostgreSQL this often, on top of the resyncs after every reconnect (0 = off). */
  resync_interval_ms: v.optional(coerceDuration({ min: 0 }), 60_000),
});
/** Input of `ConfigManagerConfig`. */
export type ConfigManagerConfigInput = v.InferInput<typeof ConfigManagerConfig>;

/** Keys of the templates `T`. */
export type TemplateKey<T extends readonly TemplateDefinition[]> = T[number]['key'];
/** The value type of template `K` of `T`. */
export type TemplateValue<T extends readonly TemplateDefinition[], K extends TemplateKey<T>> =
  Extract<T[number], { readonly key: K }> extends TemplateDefinition<string, infer V> ? V : never;

/** Who changes something, and why (both recorded in the revision). */
export interface ChangeMeta {
  readonly actor: string;
  readonly reason: string;
}

/** Figures since start. */
export interface ConfigManagerStats {
  readonly resyncs: number;
  readonly events_applied: number;
  readonly events_ignored: number;
  /** Active instances found invalid in this process (and never applied). */
  readonly invalid: number;
}

/**
 * What a package that only reads live settings needs: `get` and `onChange` of its own templates.
 * Any manager holding those templates (and more: the app's holds every package's) is one.
 */
export type ConfigReader<T extends readonly TemplateDefinition[] = readonly TemplateDefinition[]> = Pick<
  ConfigManager<T>,
  'get' | 'onChange'
>;

/** Runtime configuration: templates in code, instances in PostgreSQL, reads from memory. */
export interface ConfigManager<T extends readonly TemplateDefinition[] = readonly TemplateDefinition[]>
  extends Closeable {
  /** Upserts the templates, loads what is active (validated), subscribes to changes. */
  start(): Promise<void>;
  /** Scoped active → global active → defaults. Synchronous, from memory, deep-frozen. */
  get<K extends TemplateKey<T>>(key: K, options?: { scope?: string }): DeepReadonly<TemplateValue<T, K>>;
  /** A draft instance: `values` (merged over the defaults when both are objects) validated. */
  createDraft<K extends TemplateKey<T>>(
    key: K,
    values: unknown,
    meta: ChangeMeta & { scope?: string },
  ): Promise<ConfigInstance>;
  updateDraft(id: string, values: unknown, meta: ChangeMeta & { expected_version?: number }): Promise<ConfigInstance>;
  /** Draft → active in one transaction: the previous active one archived, a revision, `config.changed` in the outbox. */
  publish(id: string, meta: ChangeMeta): Promise<ConfigInstance>;
  archive(id: string, meta: ChangeMeta): Promise<ConfigInstance>;
  /** The instance's values become revision `revision`'s again (validated), as a new revision. */
  rollback(id: string, revision: number, meta: ChangeMeta): Promise<ConfigInstance>;
  history(id: string): Promise<ConfigRevision[]>;
  instance(id: string): Promise<ConfigInstance | undefined>;
  list(filter?: { key?: string; status?: InstanceStatus }): Promise<ConfigInstance[]>;
  readonly templates: T;
  /** Called after the value of `key` changed in this process (any scope). Returns an unsubscribe. */
  onChange<K extends TemplateKey<T>>(
    key: K,
    listener: (value: DeepReadonly<TemplateValue<T, K>>, info: { scope: string; seq: number }) => void,
  ): () => void;
  /** Reloads everything active from PostgreSQL now. */
  resync(): Promise<void>;
  stats(): ConfigManagerStats;
  close(): Promise<void>;
}

interface Held {
  readonly seq: number;
  readonly instance_id: string;
  readonly value: unknown;
}

const SCOPE = /^(global|[a-z][a-z_]*:[A-Za-z0-9_.:@-]{1,128})$/;
const ACTOR = /^.{1,128}$/s;

/**
 * `manager` as the reader of `templates` a package asks for (`ConfigReader<typeof ITS_TEMPLATES>`):
 * checked now — every template is one the manager holds, the same definition — so the narrower
 * type is true. `E_CONFIG_USAGE` names a template the manager was not given.
 */
export function configReader<const T extends readonly TemplateDefinition[]>(
  manager: ConfigManager<readonly TemplateDefinition[]>,
  templates: T,
): ConfigReader<T> {
  for (const template of templates) {
    if (!manager.templates.includes(template))
      throw new DianaError(
        CONFIG_ERROR_CODES.CONFIG_USAGE,
        `the config manager does not hold the template "${template.key}": add it to the manager's templates`,
        { context: { key: template.key } },
      );
  }
  return manager as unknown as ConfigReader<T>;
}

/**
 * The manager over `db` (instances, revisions, outbox) and `bus` (`config.changed` in
 * broadcast mode; its registry must include `CONFIG_EVENTS`). Each write runs in
 * `db.transaction` and its `config.changed` joins it through the outbox of `db` (named in the
 * publish, whatever bus this is). Writes called inside the caller's own transaction join that
 * one (savepoints); reads (`history`, `instance`, `list`) too.
 */
export function createConfigManager<const T extends readonly TemplateDefinition[]>(
  config: ConfigManagerConfigInput,
  deps: {
    db: Database;
    bus: EventBusService<EventRegistry & typeof CONFIG_EVENTS>;
    templates: T;
    logger?: Logger;
  },
): ConfigManager<T> {
  const settings = parseOrThrow(ConfigManagerConfig, config, {
    code: CONFIG_ERROR_CODES.CONFIG_USAGE,
    message: 'invalid config manager config',
  });
  const { db, bus } = deps;
  const logger = getPackageLogger(deps.logger, 'config');
  const usage = (message: string, context?: Record<string, unknown>) =>
    new DianaError(CONFIG_ERROR_CODES.CONFIG_USAGE, message, context ? { context } : {});
  const templates = new Map<string, TemplateDefinition>();
  for (const template of deps.templates) {
    if (templates.has(template.key)) throw usage(`template '${template.key}' is defined twice`);
    templates.set(template.key, template);
  }
  const held = new Map<string, Held>(); // `${key}\u0000${scope}`
  const listeners = new Map<string, Set<(value: never, info: { scope: string; seq: number }) => void>>();
  const counts = { resyncs: 0, events_applied: 0, events_ignored: 0, invalid: 0 };
  let started = false;
  let subscription: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  const slot = (key: string, scope: string) => `${key}\u0000${scope}`;

  const templateOf = (key: string): TemplateDefinition => {
    const template = templates.get(key);
    if (!template)
      throw new DianaError(CONFIG_ERROR_CODES.CONFIG_NOT_FOUND, `no template '${key}'`, { context: { key } });
    return template;
  };
  const checkScope = (scope: string) => {
    if (typeof scope !== 'string' || !SCOPE.test(scope))
      throw usage("a scope is 'global' or '<kind>:<id>' (e.g. channel:-100123)", { scope: String(scope).slice(0, 80) });
  };
  const checkMeta = (meta: ChangeMeta) => {
    if (!meta || typeof meta.actor !== 'string' || !ACTOR.test(meta.actor) || typeof meta.reason !== 'string')
      throw usage('a change needs an actor (1–128 characters) and a reason');
  };
  /** `values` checked against the template (after a JSON round trip, as stored): the output, or E_CONFIG_INVALID. */
  const validate = (template: TemplateDefinition, values: unknown, what: string): unknown => {
    const json = JSON.stringify(values);
    const result = v.safeParse(template.schema, json === undefined ? undefined : JSON.parse(json));
    if (!result.success)
      throw new ValidationError(
        CONFIG_ERROR_CODES.CONFIG_INVALID,
        `${what} do not match template '${template.key}'`,
        fromValibotIssues(result.issues),
        {
          context: { key: template.key },
        },
      );
    return result.output;
  };
  const mergeDefaults = (template: TemplateDefinition, values: unknown) =>
    isPlainObject(template.defaults) && isPlainObject(values) ? { ...template.defaults, ...values } : values;

  // ---- applying what is active ------------------------------------------------------------

  const notify = (key: string, scope: string, seq: number) => {
    const set = listeners.get(key);
    if (!set) return;
    const value = resolve(key, scope);
    for (const listener of set) {
      try {
        listener(value as never, { scope, seq });
      } catch (error) {
        logger.error({ err: error, key }, 'config onChange listener failed');
      }
    }
  };

  /** Puts `row` (or its absence, at `seq`) in memory if newer than what is held; never an invalid value. */
  const apply = (key: string, scope: string, row: ConfigInstance | undefined, seq: number): boolean => {
    const template = templates.get(key);
    if (!template) return false; // another service's template
    const current = held.get(slot(key, scope));
    if (current && current.seq >= seq) return false;
    if (!row) {
      held.delete(slot(key, scope));
      return true;
    }
    try {
      const value = deepFreeze(validate(template, row.values, `active instance ${row.id} values`));
      held.set(slot(key, scope), { seq: row.seq, instance_id: row.id, value });
      return true;
    } catch (error) {
      counts.invalid++;
      logger.error(
        { err: error, key, scope, instance_id: row.id },
        'active config instance is invalid here; keeping the last good value',
      );
      return false;
    }
  };

  /** Everything active, from PostgreSQL. `initial`: an invalid instance fails the start (or falls back to its last valid revision). */
  const load = async (initial: boolean) => {
    counts.resyncs++;
    const rows = await listActive(db.sql);
    const seen = new Set<string>();
    const problems: string[] = [];
    for (const row of rows) {
      const template = templates.get(row.template_key);
      if (!template) continue;
      seen.add(slot(row.template_key, row.scope));
      const before = held.get(slot(row.template_key, row.scope));
      if (apply(row.template_key, row.scope, row, row.seq)) {
        if (!initial && before?.seq !== row.seq) notify(row.template_key, row.scope, row.seq);
        continue;
      }
      if (!initial || before) continue;
      // invalid at start: refuse, or serve the last revision that still validates
      const issues = v.safeParse(template.schema, row.values);
      const detail = issues.success
        ? ''
        : fromValibotIssues(issues.issues)
            .map((i) => `${i.path || '(root)'}: ${i.message}`)
            .join('; ');
      if (!settings.keep_last_known_good) {
        problems.push(`instance ${row.id} (${row.template_key}, ${row.scope}): ${detail}`);
        continue;
      }
      const revisions = await getRevisions(db.sql, row.id);
      const good = revisions.reverse().find((r) => v.safeParse(template.schema, r.values).success);
      if (good)
        held.set(slot(row.template_key, row.scope), {
          seq: row.seq,
          instance_id: row.id,
          value: deepFreeze(v.parse(template.schema, good.values)),
        });
      logger.error(
        {
          key: row.template_key,
          scope: row.scope,
          instance_id: row.id,
          revision: good?.revision ?? null,
          issues: detail,
        },
        good
          ? 'serving the last valid revision of an invalid active instance'
          : 'invalid active instance; serving defaults',
      );
    }
    if (problems.length > 0)
      throw new DianaError(
        CONFIG_ERROR_CODES.CONFIG_INVALID,
        `active config no longer matches its templates: ${problems.join(' | ')} (fix or archive them, or set keep_last_known_good)`,
        { context: { problems } },
      );
    // what is no longer active anywhere
    for (const [k, entry] of held)
      if (!seen.has(k)) {
        held.delete(k);
        const [key = '', scope = 'global'] = k.split('\u0000');
        if (!initial) notify(key, scope, entry.seq);
      }
  };

  const onEvent = async (payload: { key: string; scope: string; seq: number }) => {
    const current = held.get(slot(payload.key, payload.scope));
    if (!templates.has(payload.key) || (current && current.seq >= payload.seq)) {
      counts.events_ignored++;
      return;
    }
    const row = await getActive(db.sql, payload.key, payload.scope);
    if (apply(payload.key, payload.scope, row, Math.max(payload.seq, row?.seq ?? 0))) {
      counts.events_applied++;
      notify(payload.key, payload.scope, payload.seq);
    } else counts.events_ignored++;
  };

  const resolve = (key: string, scope: string): unknown =>
    held.get(slot(key, scope))?.value ?? held.get(slot(key, 'global'))?.value ?? templateOf(key).defaults;

  // ---- writes -----------------------------------------------------------------------------

  // Called inside db.transaction: the event joins it through the outbox. `db` named, so that
  // this holds on a bus created without it (published before the commit, a process would read
  // the old row and drop the change).
  const emit = async (row: ConfigInstance) => {
    await bus.publish(
      'config.changed',
      { key: row.template_key, scope: row.scope, instance_id: row.id, seq: row.seq },
      { key: row.template_key, db },
    );
  };
  const locked = async (id: string) => {
    const row = await lockInstance(db.session(), id);
    if (!row)
      throw new DianaError(CONFIG_ERROR_CODES.CONFIG_NOT_FOUND, `no config instance ${id}`, { context: { id } });
    return row;
  };
  const checkId = (id: string) => {
    if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/i.test(id))
      throw usage('an instance id is a UUID', { id: String(id).slice(0, 40) });
  };

  const closer = createCloser(async () => {
    if (timer) clearInterval(timer);
    await subscription?.close();
  });

  return {
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
      await load(true);
      started = true;
      subscription = bus.subscribe('config.changed', (event) => onEvent(event.payload), {
        mode: 'broadcast',
        onResync: () => load(false),
      });
      if (settings.resync_interval_ms > 0) {
        timer = setInterval(() => {
          load(false).catch((error: unknown) => logger.warn({ err: error }, 'periodic config resync failed'));
        }, settings.resync_interval_ms);
        timer.unref();
      }
    },

    get(key, options = {}) {
      if (!started) throw usage('ConfigManager.get before start()');
      const scope = options.scope ?? 'global';
      return resolve(key, scope) as never;
    },

    async createDraft(key, values, meta) {
      const template = templateOf(key);
      const scope = meta.scope ?? 'global';
      checkScope(scope);
      checkMeta(meta);
      const valid = validate(template, mergeDefaults(template, values), 'values');
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
        const valid = validate(template, mergeDefaults(template, values), 'values');
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
    instance: async (id) => {
      checkId(id);
      return getInstance(db.session(), id);
    },
    list: (filter = {}) => listInstances(db.session(), filter),

    onChange(key, listener) {
      templateOf(key);
      const set = listeners.get(key) ?? new Set();
      listeners.set(key, set);
      set.add(listener as never);
      return () => set.delete(listener as never);
    },
    resync: () => load(false),
    stats: () => ({ ...counts }),
    close: () => closer.close(),
    [Symbol.asyncDispose]: () => closer.close(),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
