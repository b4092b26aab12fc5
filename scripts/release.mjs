#!/usr/bin/env node
// Publishes every public package whose version is not yet in the private registry.
//   DIANA_REGISTRY_URL    the registry (required), e.g. https://npm.example.internal/
//   DIANA_REGISTRY_TOKEN  an auth token for it (optional when ~/.npmrc already has one)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, writeUserConfig } from './registry.mjs';

const registry = process.env.DIANA_REGISTRY_URL;
if (!registry) {
  process.stderr.write('release: set DIANA_REGISTRY_URL to the private registry to publish to\n');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'diana-release-'));
try {
  const env = { ...process.env, npm_config_registry: registry };
  if (process.env.DIANA_REGISTRY_TOKEN) {
    env.npm_config_userconfig = writeUserConfig(dir, registry, { token: process.env.DIANA_REGISTRY_TOKEN });
  }
  await run('pnpm', ['turbo', 'run', 'build', 'publint']);
  await run('pnpm', ['changeset', 'publish'], { env });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
