import { defineDianaBuild } from '@diana/tsup-config';

export default defineDianaBuild([
  'src/index.ts',
  'src/adapters/memory.ts',
  'src/adapters/redis-streams.ts',
  'src/testing.ts',
]);
