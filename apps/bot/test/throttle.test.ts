import type { Transformer } from 'grammy';
import { describe, expect, it } from 'vitest';
import { PRIVATE_CHAT_SENDS, telegramThrottler } from '../src/telegram.js';

// Records when each call reached the "network" (the transformer's prev).
function recorder() {
  const started = performance.now();
  const reached: Array<{ chat: number; at: number }> = [];
  const prev = (async (_method: string, payload: { chat_id: number }) => {
    reached.push({ chat: payload.chat_id, at: performance.now() - started });
    return { ok: true, result: true };
  }) as unknown as Parameters<Transformer>[0];
  return { prev, reached };
}

describe('telegramThrottler', () => {
  it('lets a burst of 3 sends to one private chat out at once, then one a second', async () => {
    const throttle = telegramThrottler();
    const { prev, reached } = recorder();
    const send = (chat: number) => throttle(prev, 'sendMessage', { chat_id: chat, text: 'hola' } as never);
    await Promise.all(Array.from({ length: PRIVATE_CHAT_SENDS.burst + 1 }, () => send(7)));
    const times = reached.map((r) => r.at);
    expect(times).toHaveLength(4);
    // the burst did not wait for the one-a-second spacing…
    expect(times[2]).toBeLessThan(900);
    // …and the fourth did
    expect(times[3]).toBeGreaterThanOrEqual(900);
  });

  it('keeps chats apart: a full burst in one chat does not hold up another', async () => {
    const throttle = telegramThrottler();
    const { prev, reached } = recorder();
    const send = (chat: number) => throttle(prev, 'sendMessage', { chat_id: chat, text: 'hola' } as never);
    const busy = Promise.all(Array.from({ length: 4 }, () => send(8)));
    await send(9);
    const other = reached.find((r) => r.chat === 9);
    expect(other?.at).toBeLessThan(900);
    await busy;
  });
});
