// What a ConfigManager serves from memory: the active value of each template and scope, applied
// only when newer (by seq) and only when valid, reloaded from PostgreSQL on start, after every
// reconnect and on a timer; listeners told of each change.
import type { Database } from '@diana/db';
import { DianaError, deepFreeze, fromValibotIssues, type Logger } from '@diana/utils';
import * as v from 'valibot';
import { checkScope, validate } from './checks.js';
import { CONFIG_ERROR_CODES } from './errors.js';
import { type ConfigInstance, getActive, getRevisions, listLatest } from './instances.js';
import type { TemplateDefinition } from './templates.js';

interface Held {
  readonly seq: number;
  readonly instance_id: string;
  /** undefined: nothing active since `seq` (an archive), so an older event or write is not applied */
  readonly value: unknown;
}

type Listener = (value: never, info: { scope: string; seq: number }) => void;

/** The values one manager holds. */
export interface LiveValues {
  /** Scoped active → global active → defaults; a malformed scope is `E_CONFIG_USAGE`. */
  resolve(key: string, scope: string): unknown;
  /** Everything active, from PostgreSQL. `initial`: an invalid instance fails (or falls back to its last valid revision). */
  load(initial: boolean): Promise<void>;
  /** A `config.changed` event: the row is read again and applied if newer. */
  onEvent(payload: { key: string; scope: string; seq: number }): Promise<void>;
  /** This manager's own committed change (its `config.changed` is then ignored here): applied if newer. */
  onWrite(row: ConfigInstance): void;
  listen(key: string, listener: Listener): () => void;
  readonly counts: {
    resyncs: number;
    events_applied: number;
    events_ignored: number;
    writes_applied: number;
    invalid: number;
  };
}

/** The template named `key`, or `E_CONFIG_NOT_FOUND`. */
export function templateOf(templates: ReadonlyMap<string, TemplateDefinition>, key: string): TemplateDefinition {
  const template = templates.get(key);
  if (!template)
    throw new DianaError(CONFIG_ERROR_CODES.CONFIG_NOT_FOUND, `no template '${key}'`, { context: { key } });
  return template;
}

export function createLiveValues(deps: {
  db: Database;
  templates: ReadonlyMap<string, TemplateDefinition>;
  keep_last_known_good: boolean;
  logger: Logger;
}): LiveValues {
  const { db, templates, logger } = deps;
  const held = new Map<string, Held>(); // `${key}\u0000${scope}`
  const listeners = new Map<string, Set<Listener>>();
  const counts = { resyncs: 0, events_applied: 0, events_ignored: 0, writes_applied: 0, invalid: 0 };
  const slot = (key: string, scope: string) => `${key}\u0000${scope}`;

  // Scopes read before and found well-formed: a miss looks one up instead of running the scope's
  // pattern again (which cut a scoped miss's gets from ~20 M to ~4.5 M a second). Bounded: a
  // scope per user would grow it without end, so it starts over when full.
  const checkedScopes = new Set<string>();
  const resolve = (key: string, scope: string): unknown => {
    // undefined: nothing active there; null is a value a nullable template serves
    const scoped = held.get(slot(key, scope))?.value;
    if (scoped !== undefined) return scoped;
    // checked where it costs nothing to a hit: a malformed scope never holds a value
    if (scope !== 'global' && !checkedScopes.has(scope)) {
      checkScope(scope);
      if (checkedScopes.size >= 10_000) checkedScopes.clear();
      checkedScopes.add(scope);
    }
    const global = held.get(slot(key, 'global'))?.value;
    return global !== undefined ? global : templateOf(templates, key).defaults;
  };

  const notify = (key: string, scope: string, seq: number) => {
    const set = listeners.get(key);
    if (!set) return;
    const value = resolve(key, scope);
    const failed = (error: unknown) => logger.error({ err: error, key }, 'config onChange listener failed');
    for (const listener of set) {
      try {
        // an async listener's rejection is logged as a throw is (unhandled, it would end the process)
        const result: unknown = listener(value as never, { scope, seq });
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function')
          Promise.resolve(result).catch(failed);
      } catch (error) {
        failed(error);
      }
    }
  };

  /** Puts `row` (or its absence, at `seq`) in memory if newer than what is held; never an invalid value. True when what is served changed. */
  const apply = (key: string, scope: string, row: ConfigInstance | undefined, seq: number): boolean => {
    const template = templates.get(key);
    if (!template) return false; // another service's template
    const current = held.get(slot(key, scope));
    if (current && current.seq >= seq) return false;
    if (!row) {
      held.set(slot(key, scope), { seq, instance_id: '', value: undefined });
      return current?.value !== undefined; // a change only when something was active
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

  /**
   * Everything active, from PostgreSQL. `initial`: an invalid instance fails the start (or falls back to its last valid revision).
   * Each scope's state is applied by its seq like an event: a snapshot taken before a change this
   * process already serves (a slow reload meanwhile overtaken) leaves that change in place.
   */
  const load = async (initial: boolean) => {
    const rows = await listLatest(db.sql);
    // counted once read and applied below (a reload still waiting for its read serves nothing yet)
    counts.resyncs++;
    const problems: string[] = [];
    for (const row of rows) {
      const template = templates.get(row.template_key);
      if (!template) continue;
      if (row.status !== 'active') {
        // nothing active there since row.seq
        if (apply(row.template_key, row.scope, undefined, row.seq) && !initial)
          notify(row.template_key, row.scope, row.seq);
        continue;
      }
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
      if (!deps.keep_last_known_good) {
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

  // an archived row leaves its (template, scope) with no active instance, at the archive's seq
  const onWrite = (row: ConfigInstance) => {
    const active = row.status === 'active';
    if (!apply(row.template_key, row.scope, active ? row : undefined, row.seq)) return;
    counts.writes_applied++;
    notify(row.template_key, row.scope, row.seq);
  };

  return {
    resolve,
    load,
    onEvent,
    onWrite,
    listen(key, listener) {
      templateOf(templates, key);
      const set = listeners.get(key) ?? new Set();
      listeners.set(key, set);
      set.add(listener);
      return () => set.delete(listener);
    },
    counts,
  };
}
