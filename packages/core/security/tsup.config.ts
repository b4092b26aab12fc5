import { defineDianaBuild } from '@diana/tsup-config';

export default defineDianaBuild([
  'src/index.ts',
  'src/testing.ts',
  'src/grammy.ts',
  'src/adapters/memory.ts',
  'src/adapters/redis.ts',
]);
