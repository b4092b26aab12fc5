// The README's Operator CLI exit-code text names the code each PostgreSQL failure gives
// (test/cli.int.test.ts runs them): a silent server is E_DB_TIMEOUT, which it used to leave out.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

it('the README says: refused is E_DB_UNAVAILABLE, no answer within the deadline is E_DB_TIMEOUT', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const cli = readme.slice(readme.indexOf('## Operator CLI'), readme.indexOf('## Errors'));
  const start = cli.indexOf('- **Exit codes:**');
  // one bullet, its lines joined
  const exitCodes = cli.slice(start, cli.indexOf('\n- **', start + 1)).replace(/\s+/g, ' ');
  expect(exitCodes).toMatch(/E_DB_UNAVAILABLE: PostgreSQL at host:port did not answer/);
  expect(exitCodes).toMatch(/E_DB_UNAVAILABLE: PostgreSQL at host:port refused the connection/);
  expect(exitCodes).toMatch(
    /does not answer within 5 s[^`]*`cli: E_DB_TIMEOUT: PostgreSQL at host:port did not answer/,
  );
});
