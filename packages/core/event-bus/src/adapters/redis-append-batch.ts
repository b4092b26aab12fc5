import { DianaError } from '@diana/utils';
import { EVENT_BUS_ERROR_CODES } from '../errors.js';

/** One append: the encoded envelope, with a dedupe marker key and TTL for append-once. */
export interface QueuedAppend {
  readonly raw: string;
  readonly marker?: string;
  readonly ttl_ms?: number;
  /** Aborted before its batch leaves: rejected with `E_BUS_PUBLISH_FAILED`, never sent. */
  readonly signal?: AbortSignal;
  /**
   * Called (before it resolves) when the script found the stream without its keep mark: `history`
   * false when it had none either (new, or lost) or lay below its floor (its last entries lost),
   * true when it was appended to before marks.
   */
  readonly on_unmarked?: (history: boolean) => void;
}

interface Waiting extends QueuedAppend {
  readonly resolve: (id: string) => void;
  readonly reject: (error: unknown) => void;
}

/** Whether stream entry id `a` ('ms-seq') comes before `b`. */
export function idBefore(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am < bm : as < bs;
}

/**
 * Runs `lua/append-batch.lua`: `keys` = per stream, the stream, its keep mark, then its markers;
 * `args` = the MAXLEN cap, then per stream its floor, its entry count and entries. Returns one reply per
 * entry, in order (an Error is that entry's rejection as is; `~` or `^` before an id: the stream
 * had no keep mark, and no history or history).
 */
export type SendBatch = (keys: string[], args: Array<string | number>) => Promise<Array<string | Error>>;

/**
 * Coalesces the appends made in one turn of the event loop: each stream's appends go to
 * Redis as one script call that appends them in order, where sending each on its own costs
 * a command, a socket write and a reply each. With `one_call` (one server: a script may name
 * keys of any slot) the turn's streams share calls, up to `max_batch` entries each. Nothing
 * waits on a timer: a batch leaves when the current turn's code and promise callbacks have run
 * (or a stream's at once at `max_batch`), so a lone append goes out as soon as it would have
 * anyway.
 *
 * Each caller gets its own entry id or its own error; appends of one stream land in the
 * order they were made.
 */
export function createAppendBatcher(
  send: SendBatch,
  options: {
    readonly max_len: number;
    readonly max_batch: number;
    readonly default_ttl_ms: number;
    readonly one_call?: boolean;
    /** The key of a stream's keep mark (its hash tag). */
    readonly keep_key: (stream: string) => string;
    /**
     * Per stream, the highest id its relayed appends (those with a marker) got: raised from the
     * replies, sent with each batch as its floor (a stream found below it lost its last entries).
     */
    readonly floors?: Map<string, string>;
  },
): (stream: string, append: QueuedAppend) => Promise<string> {
  const queues = new Map<string, Waiting[]>();
  let scheduled = false;
  const floors = options.floors ?? new Map<string, string>();
  const raiseFloor = (stream: string, id: string) => {
    const floor = floors.get(stream);
    if (floor === undefined || idBefore(floor, id)) floors.set(stream, id);
  };

  /** Sends the streams' batches in one call; each caller settles with its own reply. */
  const sendStreams = (streams: Iterable<[string, Waiting[]]>) => {
    const keys: string[] = [];
    const args: Array<string | number> = [options.max_len];
    const batch: Waiting[] = [];
    const streamOf: string[] = [];
    for (const [stream, queued] of streams) {
      const live = queued.filter((item) => {
        if (!item.signal?.aborted) return true;
        item.reject(new DianaError(EVENT_BUS_ERROR_CODES.PUBLISH_FAILED, 'not sent (the caller stopped waiting)'));
        return false;
      });
      if (live.length === 0) continue;
      keys.push(stream, options.keep_key(stream));
      args.push(floors.get(stream) ?? '', live.length);
      for (const item of live) {
        batch.push(item);
        streamOf.push(stream);
        if (item.marker === undefined) args.push('', item.raw);
        else {
          keys.push(item.marker);
          args.push(item.ttl_ms ?? options.default_ttl_ms, item.raw);
        }
      }
    }
    if (batch.length === 0) return;
    send(keys, args).then(
      (replies) => {
        for (let i = 0; i < batch.length; i++) {
          const item = batch[i] as Waiting;
          const reply = replies[i];
          if (reply === undefined) item.reject(new Error('no reply for a batched append'));
          else if (typeof reply !== 'string') item.reject(reply);
          else if (reply.startsWith('!')) item.reject(new Error(reply.slice(1)));
          else {
            const told = reply.startsWith('~') || reply.startsWith('^');
            const id = told ? reply.slice(1) : reply;
            if (item.marker !== undefined) raiseFloor(streamOf[i] as string, id);
            if (told) item.on_unmarked?.(reply.startsWith('^'));
            item.resolve(id);
          }
        }
      },
      (error: unknown) => {
        for (const item of batch) item.reject(error);
      },
    );
  };
  const flush = () => {
    scheduled = false;
    // with one_call, streams share a call up to `max_batch` entries in all (each queue holds fewer)
    let call: Array<[string, Waiting[]]> = [];
    let size = 0;
    for (const entry of queues) {
      if (call.length > 0 && (!options.one_call || size + entry[1].length > options.max_batch)) {
        sendStreams(call);
        call = [];
        size = 0;
      }
      call.push(entry);
      size += entry[1].length;
    }
    if (call.length > 0) sendStreams(call);
    queues.clear();
  };

  return (stream, append) =>
    new Promise<string>((resolve, reject) => {
      let queue = queues.get(stream);
      if (!queue) {
        queue = [];
        queues.set(stream, queue);
      }
      // one object shape for every append (a spread of the caller's object made as many shapes as callers)
      queue.push({
        raw: append.raw,
        marker: append.marker,
        ttl_ms: append.ttl_ms,
        signal: append.signal,
        on_unmarked: append.on_unmarked,
        resolve,
        reject,
      });
      if (queue.length >= options.max_batch) {
        queues.delete(stream);
        sendStreams([[stream, queue]]);
      } else if (!scheduled) {
        scheduled = true;
        process.nextTick(flush);
      }
    });
}
