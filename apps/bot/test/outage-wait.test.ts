import { DianaError, SILENT_LOGGER } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { createOutageWait } from '../src/outage-wait.js';

const wait = (ms: number) => createOutageWait(ms, SILENT_LOGGER);
const down = () => new DianaError('E_DB_UNAVAILABLE', 'connect ECONNREFUSED 127.0.0.1:5432');

describe('createOutageWait', () => {
  it('runs the work again while a backend is down (here or as a cause), then returns its result', async () => {
    let calls = 0;
    const result = await wait(5_000)(async () => {
      calls++;
      if (calls === 1) throw down();
      if (calls === 2) throw new DianaError('E_CACHE_FACTORY_FAILED', 'factory failed', { cause: down() });
      return 'row';
    });
    expect({ result, calls }).toEqual({ result: 'row', calls: 3 });
  });

  it('does not run again a connect that failed: the pool has waited for the server already', async () => {
    let calls = 0;
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const waited = new DianaError('E_DB_UNAVAILABLE', refused.message, { cause: refused });
    await expect(
      wait(5_000)(async () => {
        calls++;
        throw new DianaError('E_CACHE_FACTORY_FAILED', 'factory failed', { cause: waited });
      }),
    ).rejects.toMatchObject({ code: 'E_CACHE_FACTORY_FAILED' });
    expect(calls).toBe(1);
  });

  it('does not run again a failure that is not an outage', async () => {
    let calls = 0;
    const refused = new DianaError('E_DB_CONFLICT', 'duplicate key');
    await expect(
      wait(5_000)(async () => {
        calls++;
        throw refused;
      }),
    ).rejects.toBe(refused);
    expect(calls).toBe(1);
  });

  it('gives up with the last error once the wait is over; 0 runs the work once', async () => {
    /** How many times work that always meets the backend down runs within `ms`; it fails with the outage. */
    const triesWithin = async (ms: number) => {
      let calls = 0;
      await expect(
        wait(ms)(async () => {
          calls++;
          throw down();
        }),
      ).rejects.toMatchObject({ code: 'E_DB_UNAVAILABLE' });
      return calls;
    };
    const began = Date.now();
    expect(await triesWithin(250)).toBeGreaterThan(1);
    expect(Date.now() - began).toBeLessThan(5_000); // bounded by the wait, not the backoff's growth
    expect(await triesWithin(0)).toBe(1);
  });
});
