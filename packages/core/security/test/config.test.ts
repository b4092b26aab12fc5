import * as v from 'valibot';
import { expect, it } from 'vitest';
import { SecurityConfig } from '../src/config.js';

it('refuses a rate_limit_timeout_ms longer than a timer holds (Node ran a 30-day one after 1 ms: every decision degraded)', () => {
  const result = v.safeParse(SecurityConfig, { rate_limit_timeout_ms: '30d' });
  expect(result.success).toBe(false);
  expect(result.issues?.[0]?.message).toContain('at most 2147483647 ms');
  expect(v.parse(SecurityConfig, { rate_limit_timeout_ms: '2s' }).rate_limit_timeout_ms).toBe(2_000);
});
