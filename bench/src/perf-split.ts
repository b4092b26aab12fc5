// `pnpm bench:bot -- --perf`: where this process's CPU time goes, as the kernel samples it
// (Linux `perf record -e cpu-clock`, every thread, user and kernel code). The inspector's
// profile (profile.ts) samples the main thread's JavaScript on a wall clock: a thread that waits
// for a CPU inside a system call counts there as the call's time, and V8's own threads (GC,
// compilation) do not show. This split counts only time on a CPU, so its shares add up to the
// process's CPU time. Each sample goes to the first kind that matches its stack: a scavenge, a
// full collection, compilation, a system call (write, read, epoll, a page fault), else the
// package of the innermost JavaScript function on the stack. JavaScript names come from the map
// V8 writes with `--perf-basic-prof` (`NODE_OPTIONS=--perf-basic-prof`); without it, JavaScript
// shows as "JS (names need --perf-basic-prof)". V8 leaves its map at /tmp/perf-<pid>.map.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';

/** One row of the split: a kind of work and its share of the samples. */
export interface PerfShare {
  readonly kind: string;
  readonly share: number;
}

export interface PerfSplit {
  readonly samples: number;
  /** Shares by kind, largest first. */
  readonly kinds: readonly PerfShare[];
  /** The main thread's share (the rest is V8's and libuv's threads). */
  readonly main_thread: number;
}

const KINDS: ReadonlyArray<readonly [string, RegExp]> = [
  ['GC: scavenge (young generation)', /Scaveng/],
  ['GC: mark, sweep, compact', /MarkCompact|ConcurrentMarking|IncrementalMarking|Sweeper|MarkingVisitor|MinorMark/],
  [
    'compilation (Maglev, TurboFan, parser)',
    /compiler::|maglev::|turboshaft|Compiler::|CompileLazy|Parser::|BytecodeGenerator/,
  ],
  ['kernel: socket writes', /ksys_write|do_writev|tcp_sendmsg/],
  ['kernel: socket reads', /ksys_read|tcp_recvmsg/],
  ['kernel: epoll', /do_epoll_wait|ep_poll/],
  ['kernel: page faults', /exc_page_fault/],
];

/** The package a JavaScript function's file belongs to: ours, a dependency, Node's own. */
function packageOf(url: string): string {
  const dep = /node_modules\/\.pnpm\/((?:@[^+/]+\+)?[^@/]+)/.exec(url);
  if (dep?.[1]) return `dependency ${dep[1].replace('+', '/')}`;
  const ours = /(packages\/(?:core|modules|vendor)\/[^/]+|apps\/[^/]+|bench)\//.exec(url);
  if (ours?.[1]) return `ours ${ours[1].replace(/^packages\/(core|modules|vendor)\//, '')}`;
  const node = /^(node:(?:internal\/)?[a-z_]+)/.exec(url);
  return node?.[1] ? `Node ${node[1]}` : 'JS, other';
}

function kindOf(frames: readonly string[], named: boolean): string {
  for (const [kind, pattern] of KINDS) if (frames.some((frame) => pattern.test(frame))) return kind;
  if (frames[0]?.includes('[kernel')) return 'kernel: other';
  const js = frames.find((frame) => frame.includes('JS:'));
  if (js) return packageOf(/JS:\S* (\S+)/.exec(js)?.[1] ?? '');
  if (!named && frames.some((frame) => frame.includes('[unknown]'))) return 'JS (names need --perf-basic-prof)';
  return 'native, no JavaScript on the stack (event loop, V8 builtins)';
}

async function waitForFile(path: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(existsSync(path) && statSync(path).size > 0)) {
    if (child.exitCode !== null) throw new Error(`perf record exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('perf record did not start within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts sampling this process with `perf record` into `path`; undefined when `perf` is not
 * installed. `stop()` ends the recording and returns the split.
 */
export async function startPerf(path: string): Promise<{ stop(): Promise<PerfSplit> } | undefined> {
  if (spawnSync('perf', ['--version']).status !== 0) return undefined;
  mkdirSync(dirname(path), { recursive: true });
  const named = existsSync(`/tmp/perf-${process.pid}.map`);
  const args = ['record', '-e', 'cpu-clock', '-F', '999', '-g', '-p', String(process.pid), '-o', path];
  const recorder = spawn('perf', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  recorder.stderr?.on('data', (chunk) => {
    errors += chunk;
  });
  await waitForFile(path, recorder);
  return {
    async stop() {
      const exited = new Promise((resolve) => recorder.once('exit', resolve));
      recorder.kill('SIGINT');
      await exited;
      if (recorder.exitCode !== 0 && recorder.signalCode === null) throw new Error(`perf record failed: ${errors}`);
      const script = spawn('perf', ['script', '-i', path, '-F', 'comm,tid,ip,sym,dso'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      const counts = new Map<string, number>();
      let samples = 0;
      let main = 0;
      let tid = '';
      const mainTid = String(process.pid);
      let frames: string[] = [];
      const flush = () => {
        if (!tid) return;
        samples++;
        if (tid === mainTid) main++;
        const kind = kindOf(frames, named);
        counts.set(kind, (counts.get(kind) ?? 0) + 1);
        tid = '';
        frames = [];
      };
      // a sample is a header line (thread name, thread id) and its stack, one frame a line, then a blank line
      for await (const line of createInterface({ input: script.stdout })) {
        if (line.trim() === '') flush();
        else if (/^\s/.test(line)) frames.push(line.trim());
        else tid = line.trim().split(/\s+/)[1] ?? '?';
      }
      flush();
      const kinds = [...counts]
        .map(([kind, n]) => ({ kind, share: n / Math.max(1, samples) }))
        .sort((a, b) => b.share - a.share);
      return { samples, kinds, main_thread: main / Math.max(1, samples) };
    },
  };
}
