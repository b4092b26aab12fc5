// The store port: where a slice's value lives. Adapters: postgres (persistent slices), redis
// (ephemeral slices) and memory (both, for tests and the embedded default). The conformance
// suite in ./testing defines the semantics every adapter must have.

/** A slice's value as stored, with what a compare-and-set needs. */
export interface StoredSlice {
  /** The value as JSON-compatible data (validated by the manager, not by the store). */
  readonly data: unknown;
  /** Writes so far (1 after the first); only grows while the record lives. */
  readonly version: number;
  /** The slice definition's version the data was written with (for migrations on read). */
  readonly schema_version: number;
  /** The id of the write that produced this record. */
  readonly write_id: string;
  /** Opaque compare-and-set token: a write expecting it succeeds only if nothing wrote since. */
  readonly token: string;
}

/** One write of a slice. */
export interface SliceWrite {
  readonly data: unknown;
  readonly schema_version: number;
  /** Unique per attempt, so a writer whose reply was lost can read back whether it landed. */
  readonly write_id: string;
  /** Expire the record this long after this write (ephemeral stores); undefined = never. */
  readonly ttl_ms?: number;
}

/** A compare-and-set that did not match, told with the record that stands (what a read would give). */
export interface SliceConflict {
  readonly conflict: true;
  readonly current: StoredSlice | undefined;
}

/**
 * Where slices live. Every method is atomic on one (user, slice). `Refusal`: what a lost
 * compare-and-set returns (`undefined`, or a `SliceConflict` from a store that tells it).
 */
export interface SliceStore<Refusal extends SliceConflict | undefined = SliceConflict | undefined> {
  readonly name: string;
  /**
   * True when `write` answers a mismatch with a `SliceConflict` (in the same round trip) that
   * tells the record that stands — always (Redis), or whenever the write's statement saw one
   * (PostgreSQL: not a row committed after its snapshot was taken; then `undefined`). The
   * manager then writes first on a guess of the record (the one this process saw last, or none)
   * and reads only when the guess was wrong and the refusal told nothing.
   */
  readonly answers_conflicts?: boolean;
  read(user_id: string, slice: string): Promise<StoredSlice | undefined>;
  /** Several slices of one user in one round trip; absent slices are missing from the map. */
  readMany(user_id: string, slices: readonly string[]): Promise<Map<string, StoredSlice>>;
  /**
   * Compare-and-set: writes when the record's token is `expected` (`undefined` = no record),
   * returning the new record; when it is not, writes nothing and returns `undefined`, or a
   * `SliceConflict` (a store with `answers_conflicts`) whose `current` is what a read gives.
   * A write that certainly never left the process (no connection) rejects with an error marked
   * by `notSent`: the manager then reports `not_written` without reading back.
   */
  write(
    user_id: string,
    slice: string,
    expected: string | undefined,
    value: SliceWrite,
  ): Promise<StoredSlice | Refusal>;
  /**
   * True when `current` is the record a compare-and-set expecting `expected` makes — the next
   * one, whoever wrote it. A writer whose reply was lost and whose write id is not on `current`
   * then knows its write did not land (another took its place); a record further on says
   * nothing (its write may have landed and been written over). Absent: never known.
   */
  follows?(current: StoredSlice, expected: string | undefined): boolean;
}

/**
 * `follows` for tokens '<generation>:<version>' (a generation is given when a record is made,
 * so a record that expired and came back never follows its predecessor's token; and nothing is
 * known to follow "no record").
 */
export function followsInGeneration(current: StoredSlice, expected: string | undefined): boolean {
  if (expected === undefined) return false;
  const at = expected.lastIndexOf(':');
  return at >= 0 && current.token === `${expected.slice(0, at)}:${Number(expected.slice(at + 1)) + 1}`;
}

/** Marks `error` as that of a request never sent (nothing written): see `SliceStore.write`. */
export function notSent<E extends Error>(error: E): E & { readonly not_sent: true } {
  return Object.assign(error, { not_sent: true as const });
}

export function isNotSent(error: unknown): boolean {
  return (error as { not_sent?: unknown } | null)?.not_sent === true;
}
