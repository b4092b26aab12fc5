// The Dockerfile read as its stages and their instructions (continuation lines joined, comments
// dropped). check-compose.mjs checks it; bot-deploy-start.mjs starts the deployed bot the way its
// runtime stage's CMD does.
import { readFileSync } from 'node:fs';

/** Stages in order: the `FROM` image and the instructions after it. */
export function readDockerfile(path) {
  const lines = readFileSync(path, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stages = [];
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    if (instruction.toUpperCase() === 'FROM') stages.push({ image: rest[0], lines: [] });
    else stages.at(-1)?.lines.push({ instruction: instruction.toUpperCase(), args: rest.join(' ') });
  }
  return stages;
}

/** The runtime stage's command in exec form (`["node", …]`), or undefined when it has none. */
export function runtimeCommand(stages) {
  const last = stages
    .at(-1)
    ?.lines.filter((line) => line.instruction === 'CMD' || line.instruction === 'ENTRYPOINT')
    .at(-1);
  try {
    const args = JSON.parse(last?.args ?? '');
    return Array.isArray(args) && args.every((arg) => typeof arg === 'string') ? args : undefined;
  } catch {
    return undefined;
  }
}
