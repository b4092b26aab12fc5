import { defineDianaBuild } from '@diana/tsup-config';

export default defineDianaBuild({ index: 'src/index.ts', settings: 'src/settings-entry.ts' });
