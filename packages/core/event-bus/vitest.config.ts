import { defineDianaConfig } from '@diana/vitest-config';

// Three files at a time: the chaos and cluster files mostly wait on the Redis servers they stop
// and fail over (the package's tests 137 → 106 s on the 2-core CI machine, 2026-12-05)
export default defineDianaConfig({ test: { maxWorkers: 3 } });
