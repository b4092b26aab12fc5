import { defineDianaBuild } from '@diana/tsup-config';

export default defineDianaBuild(['src/index.ts']);
