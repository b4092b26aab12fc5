import { defineDianaConfig } from '@diana/vitest-config';

export default defineDianaConfig();
