import { defineDianaBuild } from '@diana/tsup-config';

// An app, not a library: the two programs operators run with plain `node`, no declarations.
// Dependencies (the @diana/* packages included) stay external: they read their migrations, Lua
// and story files from their own package folders, so they must be installed beside dist/.
export default defineDianaBuild(['src/main.ts', 'src/cli.ts'], { dts: false });
