// Run by `pnpm release:check` in the scratch project before PGlite and the MongoDB driver are
// installed: @diana/db must install without them, and its entry points must say what to install.
import { existsSync } from 'node:fs';

const result = {
  pglite_installed: existsSync('node_modules/@electric-sql/pglite'),
  mongodb_installed: existsSync('node_modules/mongodb'),
};
const codeOf = (promise) =>
  promise.then(
    () => 'resolved',
    (error) => `${error.code}: ${error.message}`,
  );
const { createEmbeddedPostgres } = await import('@diana/db/embedded');
result.embedded = await codeOf(createEmbeddedPostgres());
const { createMongo } = await import('@diana/db/mongo');
result.mongo = await codeOf(createMongo({ url: 'mongodb://127.0.0.1:1/x' }));
console.log(JSON.stringify(result));
