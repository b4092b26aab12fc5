// A stored entry's envelope is read by plain checks first and by valibot when they do not pass
// (src/events.ts). The plain checks must never pass what valibot refuses, and must give what
// valibot gives: property tests over envelopes our encoder writes and over broken ones.

import { DianaError, ValidationError } from '@diana/utils';
import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { Envelope, plainEnvelope, readEnvelope } from '../src/events.js';
import { decodeEnvelope, defineEvents, type EventEnvelope, encodeEnvelope } from '../src/index.js';

const nullableText = fc.option(fc.string({ maxLength: 12 }), { nil: null });
// timestamps as toISOString writes them, and the other forms valibot's isoTimestamp takes
const timestamp = fc.oneof(
  fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .tuple(
      fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
      fc.constantFrom('+02:00', '-0530', ' +01', 'Z', '.5Z'),
      fc.constantFrom('T', ' '),
    )
    .map(([d, zone, sep]) => `${d.toISOString().slice(0, 19).replace('T', sep)}${zone}`),
);
const envelope = fc.record({
  id: fc.uuid(),
  type: fc.constantFrom('story.chapter_completed', 'gamification.besitos_awarded', 'x.y'),
  version: fc.integer({ min: 1, max: 5 }),
  occurred_at: timestamp,
  correlation_id: fc.string({ maxLength: 40 }),
  causation_id: nullableText,
  user_id: nullableText,
  key: nullableText,
  payload: fc.jsonValue(),
});
const field = fc.constantFrom(
  'id',
  'type',
  'version',
  'occurred_at',
  'correlation_id',
  'causation_id',
  'user_id',
  'key',
  'payload',
);
// an envelope with one field replaced by anything JSON can hold, or removed, or an extra field
const broken = fc
  .tuple(envelope, field, fc.oneof(fc.jsonValue(), fc.constant(undefined)), fc.boolean())
  .map(([e, name, value, extra]) => {
    const out: Record<string, unknown> = { ...e };
    if (value === undefined) delete out[name];
    else out[name] = value;
    if (extra) out.extra = 1;
    return JSON.parse(JSON.stringify(out)) as unknown;
  });

describe('reading an envelope', () => {
  it('passes every envelope valibot takes from the encoder, with the output valibot gives', () => {
    fc.assert(
      fc.property(envelope, (e) => {
        const stored = JSON.parse(encodeEnvelope(e as EventEnvelope)) as unknown;
        const plain = plainEnvelope(stored);
        const checked = v.safeParse(Envelope, stored);
        expect(checked.success).toBe(true);
        expect(plain).toStrictEqual(checked.output);
      }),
      { numRuns: 2_000 },
    );
  });

  it('passes nothing valibot refuses, and gives what valibot gives for what it passes', () => {
    let refused = 0;
    let passed = 0;
    fc.assert(
      fc.property(fc.oneof(broken, fc.jsonValue()), (input) => {
        const plain = plainEnvelope(input);
        const checked = v.safeParse(Envelope, input);
        if (!checked.success) refused++;
        if (plain === undefined) return;
        passed++;
        expect(checked.success).toBe(true);
        expect(plain).toStrictEqual(checked.output);
      }),
      { numRuns: 5_000 },
    );
    // the generator reaches both sides: refusals, and broken envelopes the plain checks pass
    expect(refused).toBeGreaterThan(1_000);
    expect(passed).toBeGreaterThan(100);
  });

  it('names what is wrong through valibot when the plain checks do not pass', () => {
    const e = { id: 'not-a-uuid', type: 'x.y', version: 0, occurred_at: 'yesterday', correlation_id: 'c' };
    const error = (() => {
      try {
        readEnvelope(e);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).code).toBe('E_BUS_EVENT_SCHEMA');
    const paths = (error as ValidationError).issues.map((issue) => issue.path);
    expect(paths).toEqual(expect.arrayContaining(['id', 'version', 'occurred_at', 'causation_id', 'payload']));
  });

  it('decodes a stored entry: its envelope, and its payload by its schema (unknown keys dropped)', () => {
    const registry = defineEvents({ 'x.y': v.object({ n: v.number() }) });
    const e: EventEnvelope = {
      id: '01938d2e-8a4b-7c3e-9f1a-2b3c4d5e6f70',
      type: 'x.y',
      version: 1,
      occurred_at: new Date().toISOString(),
      correlation_id: '01938d2e-8a4b-7c3e-9f1a-2b3c4d5e6f70',
      causation_id: null,
      user_id: '42',
      key: null,
      payload: { n: 1, dropped: true },
    };
    expect(decodeEnvelope(registry, encodeEnvelope(e))).toStrictEqual({ ...e, payload: { n: 1 } });
    expect(() => decodeEnvelope(registry, encodeEnvelope({ ...e, payload: { n: 'one' } }))).toThrow(DianaError);
  });

  it('refuses an entry of another type than its stream’s, whose payload its own type’s schema passes', () => {
    const registry = defineEvents({ 'x.y': v.object({ n: v.number() }), 'x.z': v.object({ s: v.string() }) });
    const e: EventEnvelope = {
      id: '01938d2e-8a4b-7c3e-9f1a-2b3c4d5e6f70',
      type: 'x.z',
      version: 1,
      occurred_at: new Date().toISOString(),
      correlation_id: '01938d2e-8a4b-7c3e-9f1a-2b3c4d5e6f70',
      causation_id: null,
      user_id: null,
      key: null,
      payload: { s: 'one' },
    };
    expect(decodeEnvelope(registry, encodeEnvelope(e), 'x.z')).toStrictEqual(e);
    expect(() => decodeEnvelope(registry, encodeEnvelope(e), 'x.y')).toThrow(
      expect.objectContaining({ code: 'E_BUS_EVENT_SCHEMA', message: 'a x.z entry on the x.y stream' }),
    );
  });
});
