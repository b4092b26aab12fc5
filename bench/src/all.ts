// pnpm bench — every benchmark in short mode (a tenth of the operations, same goals), one after
// another, each in a process of its own; its output goes to bench/out/<name>.log and its goals
// into one table at the end. Takes a few minutes; the full runs are `pnpm bench:<name>`.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCHES = ['db', 'event-bus', 'cache', 'user-state', 'security', 'config', 'gamification', 'bot'];
const here = fileURLToPath(new URL('..', import.meta.url));
const outDir = join(here, 'out');
mkdirSync(outDir, { recursive: true });
const goalsFile = join(outDir, 'goals.jsonl');
rmSync(goalsFile, { force: true });
const out = (line: string) => process.stdout.write(`${line}\n`);

const started = Date.now();
const failed: string[] = [];
for (const name of BENCHES) {
  const t0 = Date.now();
  const log = join(outDir, `${name}.log`);
  const code = await new Promise<number>((resolve) => {
    const child = spawn('pnpm', ['run', '--silent', `bench:${name}`], {
      cwd: here,
      env: { ...process.env, DIANA_BENCH_SHORT: '1', DIANA_BENCH_GOALS: goalsFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (chunk) => (text += chunk));
    child.stderr.on('data', (chunk) => (text += chunk));
    child.on('exit', (exit) => {
      writeFileSync(log, text);
      resolve(exit ?? 1);
    });
  });
  if (code !== 0) failed.push(name);
  out(`${code === 0 ? 'ran   ' : 'FAILED'} bench:${name} in ${((Date.now() - t0) / 1000).toFixed(0)} s (${log})`);
}

let goals: Array<{ bench: string; goal: string; met: boolean }> = [];
try {
  goals = readFileSync(goalsFile, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
} catch {}
out(`\nGoals (short mode; the full runs and their figures are in each package's README)`);
const width = Math.max(...goals.map((g) => g.bench.length), 5);
for (const g of goals) out(`  ${g.met ? 'met   ' : 'MISSED'}  ${g.bench.padEnd(width)}  ${g.goal}`);
const met = goals.filter((g) => g.met).length;
out(
  `\n${met} of ${goals.length} goals met; ${failed.length > 0 ? `benchmarks that failed: ${failed.join(', ')}; ` : ''}${((Date.now() - started) / 1000).toFixed(0)} s in all`,
);
process.exit(failed.length > 0 ? 1 : 0);
