/**
 * Coalesces the calls made in one turn of the event loop into one `send` per group (`groupOf`:
 * e.g. one group on one Redis server, one per hash tag on a Cluster so a call never spans two slots).
 * Nothing waits on a timer: a batch leaves once the current turn's code has run, or at once at
 * `max_batch`. Each caller gets its own reply or the batch's error, in the order asked.
 */
export function createTurnBatcher<I, O>(
  send: (items: I[]) => Promise<O[]>,
  options: { readonly max_batch: number; readonly groupOf: (item: I) => string },
): (item: I) => Promise<O> {
  interface Waiting {
    readonly item: I;
    readonly resolve: (reply: O) => void;
    readonly reject: (error: unknown) => void;
  }
  const groups = new Map<string, Waiting[]>();
  let scheduled = false;
  const sendGroup = (batch: Waiting[]) => {
    send(batch.map((w) => w.item)).then(
      (replies) => {
        for (let i = 0; i < batch.length; i++) {
          const waiting = batch[i] as Waiting;
          if (i < replies.length) waiting.resolve(replies[i] as O);
          else waiting.reject(new Error('no reply for a batched call'));
        }
      },
      (error: unknown) => {
        for (const waiting of batch) waiting.reject(error);
      },
    );
  };
  const flush = () => {
    scheduled = false;
    for (const batch of groups.values()) sendGroup(batch);
    groups.clear();
  };
  return (item) =>
    new Promise<O>((resolve, reject) => {
      const group = options.groupOf(item);
      let batch = groups.get(group);
      if (!batch) {
        batch = [];
        groups.set(group, batch);
      }
      batch.push({ item, resolve, reject });
      if (batch.length >= options.max_batch) {
        groups.delete(group);
        sendGroup(batch);
      } else if (!scheduled) {
        scheduled = true;
        process.nextTick(flush);
      }
    });
}
