// configTableMismatches: each kind of disagreement between a README's table and a schema.
import { describe, expect, it } from 'vitest';
import { configTableMismatches } from '../src/readme-config.js';

const schema = {
  entries: {
    key_prefix: { default: 'diana:x:' },
    ttl_ms: { default: 60_000 },
    on: { default: () => false },
    url: {},
    a_ms: { default: 200 },
    b_ms: { default: 30_000 },
    parts: { default: {} },
  },
};
const readme = (rows: string) => `# x

## Config (\`XConfig\`, \`DIANA_X_*\`)

| key | variable | default | meaning |
| --- | --- | --- | --- |
${rows}

## Next
`;
const good = [
  '| `key_prefix` | `DIANA_X_KEY_PREFIX` | `diana:x:` | prefix |',
  '| `ttl_ms` | `DIANA_X_TTL_MS` | 60 000 (`DEFAULT_TTL`) | life |',
  '| `on` | `DIANA_X_ON` | false | switch |',
  '| `url` | `DIANA_X_URL` | — (required) | where |',
  '| `a_ms` / `b_ms` | `DIANA_X_A_MS` | 200 / 30 000 | backoff |',
  '| `parts` | `DIANA_X_PARTS` | `{}` (1 each) | partitions |',
];
const options = { heading: '## Config (`XConfig`', section: 'x' };

describe('configTableMismatches', () => {
  it('finds none when the table says what the schema does', () => {
    // without a section the variable column is not checked
    const rows = good.map((row) => row.replace('`DIANA_X_A_MS`', '—'));
    expect(configTableMismatches(readme(rows.join('\n')), schema, { heading: options.heading })).toEqual([]);
  });

  it('names a key missing on either side, a default that differs and a variable misspelled', () => {
    const rows = [...good];
    rows[1] = '| `ttl_ms` | `DIANA_X_TTL` | 30 000 | life |';
    rows[2] = '| `enabled` | `DIANA_X_ENABLED` | false | switch |';
    rows[4] = '| `a_ms` / `b_ms` | `DIANA_X_A_MS` | 200 / 3 000 | backoff |';
    expect(configTableMismatches(readme(rows.join('\n')), schema, options)).toEqual([
      "ttl_ms: the table's default is 30000, the schema's 60000",
      "ttl_ms: the table's variable is `DIANA_X_TTL`, loadSettings reads DIANA_X_TTL_MS",
      'enabled: in the table, not in the schema',
      "b_ms: the table's default is 3000, the schema's 30000",
      "b_ms: the table's variable is `DIANA_X_A_MS`, loadSettings reads DIANA_X_B_MS",
      'on: in the schema, not in the table',
    ]);
  });

  it("finds the section's table after a code block whose comments start with #", () => {
    const rows = good.map((row) => row.replace('`DIANA_X_A_MS`', '—'));
    const withBlock = readme(rows.join('\n')).replace(
      '\n\n| key |',
      '\n\n```sh\n# set them in .env\nDIANA_X_URL=…\n```\n\n| key |',
    );
    expect(withBlock).toContain('# set them in .env');
    expect(configTableMismatches(withBlock, schema, { heading: options.heading })).toEqual([]);
  });

  it('says so when the heading or its table is not there', () => {
    expect(configTableMismatches('# x\n', schema, options)).toEqual(['no heading starting "## Config (`XConfig`"']);
    expect(configTableMismatches('## Config (`XConfig`)\n\nprose only\n', schema, options)).toEqual([
      'no table with key and default columns under "## Config (`XConfig`"',
    ]);
    // a table of the next section is not the heading's
    const later = readme(good.join('\n')).replace(
      '## Config (`XConfig`, `DIANA_X_*`)',
      '## Config (`XConfig`)\n\nprose\n\n## Other',
    );
    expect(configTableMismatches(later, schema, options)).toEqual([
      'no table with key and default columns under "## Config (`XConfig`"',
    ]);
  });
});
