// The ConfigManager's contract: its settings, the manager and reader types, what it needs, and
// `configReader` (a package's narrower view of the app's manager).
import type { Database } from '@diana/db';
import type { EventBusService, EventRegistry } from '@diana/event-bus';
import {
  type Closeable,
  type CloseOptions,
  coerceBoolean,
  coerceDuration,
  type DeepReadonly,
  DianaError,
  type Logger,
} from '@diana/utils';
import * as v from 'valibot';
import { CONFIG_ERROR_CODES } from './errors.js';
import type { CONFIG_EVENTS } from './events.js';
import type { ConfigInstance, ConfigRevision, InstanceStatus, KeyRevision } from './instances.js';
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
  /** Full reloads from PostgreSQL whose read came back (the start's, after reconnects, periodic). */
  readonly resyncs: number;
  readonly events_applied: number;
  readonly events_ignored: number;
  /** This process's own publishes, archives and rollbacks, served from their commit on (their events are then ignored here). */
  readonly writes_applied: number;
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
  /**
   * The history of a key in `scope` (global by default): every revision of every instance, the
   * archived ones too, oldest first, numbered from 1 (`number`) — what was set, published, rolled
   * back and archived, and who did it.
   */
  keyHistory(key: string, options?: { scope?: string }): Promise<KeyRevision[]>;
  /**
   * Makes revision `number` of `keyHistory(key)` the active value again (validated against the
   * template now): a rollback of the active instance when the revision is its own, else a new
   * instance with its values, published (the active one archived), as a `createDraft` and a
   * `publish` make one.
   */
  restore(key: string, number: number, meta: ChangeMeta & { scope?: string }): Promise<ConfigInstance>;
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
  /** Stops the hot-reload poll and subscription; a change being applied finishes until `timeout_ms` (default 10 s). */
  close(options?: CloseOptions): Promise<void>;
}

/** What `createConfigManager` needs. */
export interface ConfigManagerDeps<T extends readonly TemplateDefinition[]> {
  /** Instances, revisions and the outbox of `config.changed`. */
  readonly db: Database;
  /** Carries `config.changed` (broadcast); its registry must include `CONFIG_EVENTS`. */
  readonly bus: EventBusService<EventRegistry & typeof CONFIG_EVENTS>;
  /** Every template this manager holds (keys unique). */
  readonly templates: T;
  readonly logger?: Logger;
}

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
