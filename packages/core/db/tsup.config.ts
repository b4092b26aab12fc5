import { defineDianaBuild } from '@diana/tsup-config';

export default defineDianaBuild(['src/index.ts', 'src/mongo.ts', 'src/embedded.ts', 'src/testing.ts']);
