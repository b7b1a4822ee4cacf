#!/usr/bin/env node
// Runs a TypeScript entry (a benchmark or a script) by bundling it with esbuild into dist/run/.
// Usage: node scripts/run-ts.mjs path/to/file.ts [args...]
import { build } from 'esbuild';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { nodeBundle } from './esbuild-options.mjs';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <file.ts> [args...]');
  process.exit(2);
}
const root = resolve(import.meta.dirname, '..');
const outfile = resolve(root, 'dist/run', basename(entry).replace(/\.ts$/, '.mjs'));
await build(nodeBundle([resolve(entry)], outfile));
process.argv = [process.argv[0], outfile, ...args];
await import(pathToFileURL(outfile).href);
