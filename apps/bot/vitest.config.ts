import { defineDianaConfig } from '@diana/vitest-config';

// Three files at a time: four files start bot processes and wait on them (35–70 s each), and the
// bot's tests end the suite (`pnpm test` 209 → 185 s on the 2-core CI machine, 2026-12-05)
export default defineDianaConfig({ test: { maxWorkers: 3 } });
