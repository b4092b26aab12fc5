// OpenTelemetry records durations in seconds (unit `s`); the SDK's default histogram buckets
// (0, 5, 10, 25 … 10 000) suit milliseconds, so every Diana duration histogram passes these
// as `advice.explicitBucketBoundaries`.

/** Histogram bucket boundaries for durations in seconds: 0.5 ms to 60 s. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);
