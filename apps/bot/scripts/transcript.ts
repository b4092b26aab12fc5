// pnpm transcript: replays every scenario in transcripts/ through the console chat (embedded
// PGlite in a temporary folder) and writes what it showed into README.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { listScenarios, replay, writeTranscript } from './replay.js';

const README = new URL('../README.md', import.meta.url);
let readme = readFileSync(README, 'utf8');
for (const { name, lines } of listScenarios()) {
  const started = Date.now();
  const transcript = await replay(lines);
  readme = writeTranscript(readme, name, transcript);
  console.log(`transcript ${name}: ${lines.length} lines replayed in ${Date.now() - started} ms`);
}
writeFileSync(README, readme);
