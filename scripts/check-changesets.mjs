// Every changeset must keep its front matter: '---', one `'<package>': <bump>` per line, '---'.
// (A Markdown formatter once turned the front matter into a heading; changesets then ignored it.)
import { readdirSync, readFileSync } from 'node:fs';

const dir = new URL('../.changeset/', import.meta.url);
const problems = [];
for (const name of readdirSync(dir).filter((f) => f.endsWith('.md') && f !== 'README.md')) {
  const text = readFileSync(new URL(name, dir), 'utf8');
  const match = /^---\n((?:'@diana\/[a-z0-9-]+': (?:major|minor|patch)\n)+)---\n\n\S/.exec(text);
  if (!match)
    problems.push(
      `.changeset/${name}: front matter must be ---, '<package>': <bump> lines, ---, a blank line, the summary`,
    );
}
if (problems.length > 0) {
  for (const problem of problems) process.stderr.write(`${problem}\n`);
  process.exit(1);
}
process.stdout.write('changesets: front matter ok\n');
