/**
 * Polls `check` every `every_ms` until it holds or `ms` have passed: true if it held, false on
 * the deadline (a poll with a deadline, never a sleep standing in for an event).
 */
export async function until(check: () => Promise<boolean> | boolean, ms = 10_000, every_ms = 20): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, every_ms));
  }
  return true;
}
