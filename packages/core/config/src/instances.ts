// SQL of the ConfigManager: instances and revisions. Every function runs on the session it
// is given (a transaction of the manager's), so a write and its revision commit together.
import type { DbSession } from '@diana/db';
import fastJsonPatch from 'fast-json-patch';

/** Where an instance is in its life. */
export type InstanceStatus = 'draft' | 'active' | 'archived';
/** What a revision recorded. */
export type RevisionAction = 'create' | 'update' | 'publish' | 'archive' | 'rollback';

/** A row of `config_instances`. */
export interface ConfigInstance {
  readonly id: string;
  readonly template_key: string;
  readonly scope: string;
  readonly status: InstanceStatus;
  readonly values: unknown;
  /** Bumped by every change of the instance (optimistic checks of `updateDraft`). */
  readonly version: number;
  /** Its latest revision number. */
  readonly revision: number;
  /** Change number of its last change to what is active (0 while it never was). */
  readonly seq: number;
  readonly created_by: string;
  readonly created_at: Date;
  readonly updated_at: Date;
}

/** A row of `config_revisions`: immutable. */
export interface ConfigRevision {
  readonly instance_id: string;
  readonly revision: number;
  readonly action: RevisionAction;
  readonly values: unknown;
  /** RFC 6902 JSON Patch from the previous revision's values to these. */
  readonly diff: readonly unknown[];
  readonly actor: string;
  readonly reason: string;
  readonly created_at: Date;
}

type InstanceRow = Omit<ConfigInstance, 'seq'> & { seq: string | number };
const COLUMNS =
  'id, template_key, scope, status, values, version, revision, seq::text as seq, created_by, created_at, updated_at';
const toInstance = (row: InstanceRow): ConfigInstance => Object.freeze({ ...row, seq: Number(row.seq) });
const json = (value: unknown) => JSON.stringify(value);

export async function insertInstance(
  sql: DbSession,
  row: { id: string; template_key: string; scope: string; values: unknown; actor: string; reason: string },
): Promise<ConfigInstance> {
  const [inserted] = await sql<InstanceRow[]>`
    insert into config_instances (id, template_key, scope, status, values, created_by)
    values (${row.id}, ${row.template_key}, ${row.scope}, 'draft', ${json(row.values)}::text::jsonb, ${row.actor})
    returning ${sql.unsafe(COLUMNS)}`;
  await insertRevision(sql, {
    instance_id: row.id,
    revision: 1,
    action: 'create',
    before: {},
    after: row.values,
    actor: row.actor,
    reason: row.reason,
  });
  return toInstance(inserted as InstanceRow);
}

/** The instance, locked for this transaction (`for update`), or undefined. */
export async function lockInstance(sql: DbSession, id: string): Promise<ConfigInstance | undefined> {
  const [row] = await sql<
    InstanceRow[]
  >`select ${sql.unsafe(COLUMNS)} from config_instances where id = ${id} for update`;
  return row && toInstance(row);
}

export async function getInstance(sql: DbSession, id: string): Promise<ConfigInstance | undefined> {
  const [row] = await sql<InstanceRow[]>`select ${sql.unsafe(COLUMNS)} from config_instances where id = ${id}`;
  return row && toInstance(row);
}

/** The active instance of (key, scope). */
export async function getActive(sql: DbSession, key: string, scope: string): Promise<ConfigInstance | undefined> {
  const [row] = await sql<InstanceRow[]>`
    select ${sql.unsafe(COLUMNS)} from config_instances where template_key = ${key} and scope = ${scope} and status = 'active'`;
  return row && toInstance(row);
}

/**
 * The latest change of each (template, scope) ever made active: its active instance, or the archived
 * one whose seq says since when nothing is active. Publishes of a scope are serialized and every
 * change to what is active takes a new seq, so the highest seq of a scope is its current state.
 */
export async function listLatest(sql: DbSession): Promise<ConfigInstance[]> {
  // ordered by the bigint column, not COLUMNS' text `seq` (where '9' > '10')
  const rows = await sql<InstanceRow[]>`
    select distinct on (template_key, scope) ${sql.unsafe(COLUMNS)} from config_instances
    where seq > 0 order by template_key, scope, config_instances.seq desc`;
  return rows.map(toInstance);
}

export async function listInstances(
  sql: DbSession,
  filter: { key?: string; status?: InstanceStatus },
): Promise<ConfigInstance[]> {
  const rows = await sql<InstanceRow[]>`
    select ${sql.unsafe(COLUMNS)} from config_instances
    where (${filter.key ?? null}::text is null or template_key = ${filter.key ?? null})
      and (${filter.status ?? null}::text is null or status = ${filter.status ?? null})
    order by template_key, scope, created_at`;
  return rows.map(toInstance);
}

/** Writes the instance's new status/values, bumps version and revision, records the revision. */
export async function changeInstance(
  sql: DbSession,
  current: ConfigInstance,
  change: {
    status?: InstanceStatus;
    values?: unknown;
    newSeq: boolean;
    action: RevisionAction;
    actor: string;
    reason: string;
  },
): Promise<ConfigInstance> {
  const values = change.values ?? current.values;
  const [row] = await sql<InstanceRow[]>`
    update config_instances
    set status = ${change.status ?? current.status}, values = ${json(values)}::text::jsonb,
        version = version + 1, revision = revision + 1,
        seq = case when ${change.newSeq} then nextval('config_change_seq') else seq end,
        updated_at = now()
    where id = ${current.id}
    returning ${sql.unsafe(COLUMNS)}`;
  await insertRevision(sql, {
    instance_id: current.id,
    revision: current.revision + 1,
    action: change.action,
    before: current.values,
    after: values,
    actor: change.actor,
    reason: change.reason,
  });
  return toInstance(row as InstanceRow);
}

async function insertRevision(
  sql: DbSession,
  r: {
    instance_id: string;
    revision: number;
    action: RevisionAction;
    before: unknown;
    after: unknown;
    actor: string;
    reason: string;
  },
): Promise<void> {
  const diff = fastJsonPatch.compare(asDocument(r.before), asDocument(r.after));
  // the time it is written, not its transaction's start (now()): a publish that waited for another's
  // lock started first and writes after it, and a key's history is ordered by this time
  await sql`
    insert into config_revisions (instance_id, revision, action, values, diff, actor, reason, created_at)
    values (${r.instance_id}, ${r.revision}, ${r.action}, ${json(r.after)}::text::jsonb, ${json(diff)}::text::jsonb,
            ${r.actor}, ${r.reason}, clock_timestamp())`;
}

// JSON Patch compares objects and arrays; a scalar value is compared as { value }.
const asDocument = (value: unknown) => (value !== null && typeof value === 'object' ? value : { value }) as object;

/** A revision in the history of a key: every instance of one scope, oldest first, numbered from 1. */
export interface KeyRevision extends ConfigRevision {
  readonly number: number;
}

/**
 * Every revision of every instance of (`key`, `scope`), oldest first by the time each was written
 * (a publish writes its revisions once it holds the key's lock, so two publishes' revisions come in
 * the order they committed).
 */
export async function getKeyRevisions(sql: DbSession, key: string, scope: string): Promise<KeyRevision[]> {
  const rows = await sql<ConfigRevision[]>`
    select r.instance_id, r.revision, r.action, r.values, r.diff, r.actor, r.reason, r.created_at
    from config_revisions r join config_instances i on i.id = r.instance_id
    where i.template_key = ${key} and i.scope = ${scope}
    order by r.created_at, r.instance_id, r.revision`;
  return rows.map((row, i) => Object.freeze({ ...row, number: i + 1 }));
}

export async function getRevisions(sql: DbSession, instance_id: string): Promise<ConfigRevision[]> {
  const rows = await sql<ConfigRevision[]>`
    select instance_id, revision, action, values, diff, actor, reason, created_at
    from config_revisions where instance_id = ${instance_id} order by revision`;
  return rows.map((row) => Object.freeze({ ...row }));
}
