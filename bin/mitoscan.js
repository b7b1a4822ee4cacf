#!/usr/bin/env node
// The `mitoscan` command: runs the bundled CLI (built by `npm run build`, which `npm ci` runs).
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const bundle = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/mitoscan.mjs');
if (!existsSync(bundle)) {
  console.error(`mitoscan: ${bundle} is missing; run \`npm run build\` (or \`npm ci\`) in the project folder first.`);
  process.exit(2);
}
await import(pathToFileURL(bundle).href);
