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

/** Where slices live. Every method is atomic on one (user, slice). */
export interface SliceStore {
  readonly name: string;
  read(user_id: string, slice: string): Promise<StoredSlice | undefined>;
  /** Several slices of one user in one round trip; absent slices are missing from the map. */
  readMany(user_id: string, slices: readonly string[]): Promise<Map<string, StoredSlice>>;
  /**
   * Compare-and-set: writes when the record's token is `expected` (`undefined` = no record),
   * returning the new record; returns `undefined` (and writes nothing) when it is not.
   */
  write(
    user_id: string,
    slice: string,
    expected: string | undefined,
    value: SliceWrite,
  ): Promise<StoredSlice | undefined>;
}
