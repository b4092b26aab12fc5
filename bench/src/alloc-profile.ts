// Where a benchmark's memory is allocated: V8's sampling heap profiler, taken in-process with the
// inspector, counting every sampled allocation — also those a scavenge or a full collection has
// freed since (a young object's cost is its allocation and the scavenges it triggers, not its
// life). The .heapprofile it writes opens in Chrome DevTools (Memory → load).
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname } from 'node:path';
import { shorten } from './profile.js';

interface HeapNode {
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

/** One line of the top: an allocation site and the bytes it allocated. */
export interface AllocationSite {
  readonly name: string;
  readonly bytes: number;
  readonly share: number;
}

export interface AllocationProfile {
  readonly total_bytes: number;
  /** Sites by bytes allocated in the function itself, largest first. */
  readonly top: readonly AllocationSite[];
}

/** Starts sampling allocations (one sample per 16 KB on average); `stop(path)` writes the profile and sums it up. */
export async function startAllocationProfile(): Promise<{
  stop(path: string, n?: number): Promise<AllocationProfile>;
}> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 16_384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return {
    async stop(path, n = 15) {
      const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as {
        profile: { head: HeapNode };
      };
      await session.post('HeapProfiler.disable');
      session.disconnect();
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, JSON.stringify(profile));
      return sumUp(profile.head, n);
    },
  };
}

function sumUp(head: HeapNode, n: number): AllocationProfile {
  const self = new Map<string, number>();
  let total = 0;
  const visit = (node: HeapNode) => {
    if (node.selfSize > 0) {
      total += node.selfSize;
      const frame = node.callFrame;
      const where = frame.url ? ` ${shorten(frame.url)}:${frame.lineNumber + 1}` : '';
      const name = `${frame.functionName || '(anonymous)'}${where}`;
      self.set(name, (self.get(name) ?? 0) + node.selfSize);
    }
    for (const child of node.children) visit(child);
  };
  visit(head);
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, bytes]) => ({ name, bytes, share: total > 0 ? bytes / total : 0 }));
  return { total_bytes: total, top };
}
