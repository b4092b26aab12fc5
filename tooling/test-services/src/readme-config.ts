// A package README's config table against its valibot schema: each key of the schema is in the
// table and each key of the table in the schema, with the schema's default, and (when the table
// has a `variable` column) the environment variable `loadSettings` reads for it. A package test
// calls it, so a key added, renamed or given another default without its README fails there.

/** What the check reads of a valibot object schema: its entries and their defaults. */
export interface ConfigSchemaLike {
  readonly entries: Readonly<Record<string, object>>;
}

/** Where the table is and what its rows must say. */
export interface ConfigTableOptions {
  /** The heading's start, e.g. "## Config (`CacheConfig`": the table is the first one under it. */
  readonly heading: string;
  /** The settings section the app loads it as (`cache`): the `variable` column must read `DIANA_CACHE_<KEY>`. */
  readonly section?: string;
}

/** A cell's default as a value: `—` and `unset` are none, `60 000 (…)` is 60000, `` `x` `` is 'x'. */
function parseDefault(cell: string): unknown {
  const text = cell.replace(/\s+\(.*\)$/, '').trim();
  if (text === '—' || text === 'unset' || text === '') return undefined;
  if (text === 'true' || text === 'false') return text === 'true';
  const quoted = /^`(.*)`$/.exec(text);
  if (quoted) {
    const inner = quoted[1] ?? '';
    return inner.startsWith('{') || inner.startsWith('[') ? JSON.parse(inner) : inner;
  }
  const number = Number(text.replace(/ /g, ''));
  return Number.isNaN(number) ? text : number;
}

const cells = (line: string) =>
  line
    .slice(1, -1)
    .split('|')
    .map((cell) => cell.trim());

/** The mismatches between `readme`'s table and `schema`, one sentence each; none when they agree. */
export function configTableMismatches(readme: string, schema: ConfigSchemaLike, options: ConfigTableOptions): string[] {
  const start = readme.indexOf(options.heading);
  if (start < 0) return [`no heading starting "${options.heading}"`];
  // the heading's section: up to the next heading (a table further down is another section's);
  // a `# comment` inside a fenced code block is not a heading
  const rest = readme.slice(start).split('\n');
  let fenced = false;
  const next = rest.findIndex((line, i) => {
    if (line.startsWith('```')) fenced = !fenced;
    return i > 0 && !fenced && /^#{1,6} /.test(line);
  });
  const lines = next < 0 ? rest : rest.slice(0, next);
  const first = lines.findIndex((line) => line.startsWith('|'));
  const after = lines.findIndex((line, i) => i > first && !line.startsWith('|'));
  const table = first < 0 ? [] : lines.slice(first, after < 0 ? lines.length : after);
  const header = cells(table[0] ?? '||');
  const keyAt = header.indexOf('key');
  const defaultAt = header.indexOf('default');
  const variableAt = header.indexOf('variable');
  if (keyAt < 0 || defaultAt < 0) return [`no table with key and default columns under "${options.heading}"`];

  const problems: string[] = [];
  const listed = new Set<string>();
  for (const row of table.slice(2).map(cells)) {
    // a row may name several keys: `a` / `b`, with defaults x / y
    const keys = [...(row[keyAt] ?? '').matchAll(/`([a-z0-9_]+)`/g)].map((match) => match[1] ?? '');
    const defaults = keys.length > 1 ? (row[defaultAt] ?? '').split(' / ') : [row[defaultAt] ?? ''];
    keys.forEach((key, i) => {
      listed.add(key);
      const entry = schema.entries[key];
      if (!entry) {
        problems.push(`${key}: in the table, not in the schema`);
        return;
      }
      const given = 'default' in entry ? entry.default : undefined;
      const wanted = typeof given === 'function' ? (given as () => unknown)() : given;
      const shown = parseDefault(defaults[i] ?? '');
      if (JSON.stringify(shown) !== JSON.stringify(wanted))
        problems.push(
          `${key}: the table's default is ${JSON.stringify(shown)}, the schema's ${JSON.stringify(wanted)}`,
        );
      if (variableAt >= 0 && options.section) {
        const variable = `DIANA_${options.section}_${key}`.toUpperCase();
        if (row[variableAt] !== `\`${variable}\``)
          problems.push(`${key}: the table's variable is ${row[variableAt]}, loadSettings reads ${variable}`);
      }
    });
  }
  for (const key of Object.keys(schema.entries))
    if (!listed.has(key)) problems.push(`${key}: in the schema, not in the table`);
  return problems;
}
