// The load window in 10-second slices: what was sent, how fast it was answered, which attempts
// failed and how, and which fault began in the slice. When a run fails, this says where its time
// went (a slow stretch after one fault, or slow throughout) without rerunning it.
import type { Sent } from './driver.js';

const SLICE_MS = 10_000;

export interface Slice {
  readonly from_s: number;
  readonly sent: number;
  readonly answered: number;
  readonly reply_p50_ms: number;
  readonly reply_max_ms: number;
  /** Failed attempts that ended in this slice, by outcome (status, 'timeout', error code). */
  readonly failed: Record<string, number>;
  readonly faults: string[];
  /** The harness's own worst timer lateness in the slice (its event loop held up: Telegram's side was slow). */
  readonly harness_lag_ms: number;
}

/** Samples how late a 100 ms timer fires in this process, until `stop`. */
export function startLagProbe() {
  const samples: Array<{ at: number; lag: number }> = [];
  let expected = performance.now() + 100;
  const timer = setInterval(() => {
    const now = performance.now();
    samples.push({ at: now, lag: Math.max(0, now - expected) });
    expected = now + 100;
  }, 100);
  return {
    samples,
    stop: () => clearInterval(timer),
  };
}

export function timeline(
  sent: readonly Sent[],
  faults: ReadonlyArray<{ name: string; start: number }>,
  lags: ReadonlyArray<{ at: number; lag: number }>,
  loadStart: number,
  loadEnd: number,
): Slice[] {
  const count = Math.max(0, Math.floor((loadEnd - loadStart) / SLICE_MS)) + 1;
  const slot = (t: number) => Math.min(count - 1, Math.max(0, Math.floor((t - loadStart) / SLICE_MS)));
  const slices = Array.from({ length: count }, (_, i) => ({
    from_s: i * 10,
    sent: 0,
    latencies: [] as number[],
    failed: {} as Record<string, number>,
    faults: [] as string[],
    harness_lag_ms: 0,
  }));
  for (const { at, lag } of lags) {
    const slice = slices[slot(at)];
    if (slice && at >= loadStart) slice.harness_lag_ms = Math.max(slice.harness_lag_ms, Math.round(lag));
  }
  for (const s of sent) {
    if (s.kind === 'setup' || s.kind === 'bad' || s.started < loadStart) continue;
    const slice = slices[slot(s.started)];
    if (!slice) continue;
    slice.sent++;
    if (s.finished !== undefined) slice.latencies.push(s.finished - s.started);
    for (const f of s.failures) {
      const failed = slices[slot(f.at)]?.failed;
      if (failed) failed[f.outcome] = (failed[f.outcome] ?? 0) + 1;
    }
  }
  for (const f of faults) slices[slot(f.start)]?.faults.push(f.name);
  return slices.map(({ latencies, ...slice }) => {
    const sorted = latencies.sort((a, b) => a - b);
    return {
      ...slice,
      answered: sorted.length,
      reply_p50_ms: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
      reply_max_ms: Math.round(sorted[sorted.length - 1] ?? 0),
    };
  });
}

/** One line per slice. */
export function formatTimeline(slices: readonly Slice[]): string[] {
  return slices.map((s) => {
    const failed = Object.entries(s.failed)
      .sort(([, a], [, b]) => b - a)
      .map(([outcome, n]) => `${outcome}×${n}`)
      .join(' ');
    return `  ${String(s.from_s).padStart(4)} s: ${String(s.sent).padStart(3)} sent, ${String(s.answered).padStart(3)} answered, reply p50 ${String(s.reply_p50_ms).padStart(5)} ms max ${String(s.reply_max_ms).padStart(5)} ms; harness lag ${s.harness_lag_ms} ms${failed ? `; failed attempts ${failed}` : ''}${s.faults.length ? `; fault: ${s.faults.join(', ')}` : ''}`;
  });
}
