import { defineTemplate } from '@diana/config';
import * as v from 'valibot';

export const BENCH_TEMPLATES = [
  defineTemplate('bench.reward', {
    type: 'setting',
    schema: v.object({ amount: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
    defaults: { amount: 0 },
  }),
] as const;
