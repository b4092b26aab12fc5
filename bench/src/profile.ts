// A CPU profile of part of a benchmark, taken in-process with the inspector (the same
// .cpuprofile `node --cpu-prof` writes; open it in Chrome DevTools or speedscope), and its top
// entries by self time.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { dirname } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One line of the top: a function (or `(program)`, `(garbage collector)`) and its self time. */
export interface SelfTime {
  readonly name: string;
  readonly self_ms: number;
  readonly share: number;
}

/** Starts profiling; `stop(path)` writes the profile and returns the top `n` by self time. */
export async function startProfile(): Promise<{ stop(path: string, n?: number): Promise<SelfTime[]> }> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop(path, n = 15) {
      const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
      session.disconnect();
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, JSON.stringify(profile));
      return topSelfTime(profile, n);
    },
  };
}

function topSelfTime(profile: Profile, n: number): SelfTime[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const delta = (profile.timeDeltas[i] ?? 0) / 1000;
    total += delta;
    const frame = byId.get(id)?.callFrame;
    if (!frame) return;
    const where = frame.url ? ` ${shorten(frame.url)}:${frame.lineNumber + 1}` : '';
    const name = `${frame.functionName || '(anonymous)'}${where}`;
    self.set(name, (self.get(name) ?? 0) + delta);
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, self_ms: ms, share: total > 0 ? ms / total : 0 }));
}

// node_modules/.pnpm/x@1/node_modules/x/lib/a.js → x/lib/a.js; our sources relative to the repo
export function shorten(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('/node_modules/');
  if (inModules >= 0) return path.slice(inModules + '/node_modules/'.length);
  const repo = path.search(/\/(packages|apps|bench)\//);
  return repo >= 0 ? path.slice(repo + 1) : path;
}
