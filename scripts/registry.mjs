// Helpers shared by the release scripts: run a command, write a throwaway npm user config.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Runs a command, streaming its output; rejects on a non-zero exit (the error keeps `stdout`). Returns its stdout. */
export function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], ...options });
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      process.stdout.write(chunk);
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(Object.assign(new Error(`${command} ${args.join(' ')} exited with ${code}`), { stdout })),
    );
  });
}

/** Writes an npm user config pointing `@diana` (or everything) at `registry`, with an optional token. */
export function writeUserConfig(dir, registry, { token, scopedOnly = false } = {}) {
  const url = new URL(registry);
  const lines = [scopedOnly ? `@diana:registry=${registry}` : `registry=${registry}`];
  if (token) lines.push(`//${url.host}${url.pathname.replace(/\/?$/, '/')}:_authToken=${token}`);
  const path = join(dir, '.npmrc');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}
