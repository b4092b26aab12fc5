/** Releases every waiter at once when `parties` have arrived: for concurrency tests. */
export interface Barrier {
  /** Resolves when all parties have called it. */
  wait(): Promise<void>;
  /** How many have arrived so far. */
  readonly arrived: number;
}

/** A one-shot barrier for `parties` callers. */
export function createBarrier(parties: number): Barrier {
  let arrived = 0;
  let release!: () => void;
  const opened = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    get arrived() {
      return arrived;
    },
    wait() {
      arrived++;
      if (arrived >= parties) release();
      return opened;
    },
  };
}
