import { afterAll, onTestFinished } from 'vitest';

/**
 * Runs `cleanup` when the test that asked for a resource ends; asked outside a test (at the top
 * of a file or in a `describe`), after the file's tests. vitest ignores an `afterAll` registered
 * while a test runs, so a database made inside a test used to outlive the run.
 */
export function cleanUpAfter(cleanup: () => unknown): void {
  try {
    onTestFinished(async () => {
      await cleanup();
    });
  } catch {
    // not inside a test: vitest refuses onTestFinished there
    afterAll(async () => {
      await cleanup();
    });
  }
}
