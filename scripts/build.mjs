#!/usr/bin/env node
// Builds the CLI (dist/mitoscan.mjs), the library (dist/node.mjs for Node, dist/browser.mjs for
// browsers: package.json "exports") and the web page bundle (dist/web/).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { nodeBundle } from './esbuild-options.mjs';

const root = resolve(import.meta.dirname, '..');
const cli = resolve(root, 'pipelines/cli.ts');
if (existsSync(cli)) await build(nodeBundle([cli], resolve(root, 'dist/mitoscan.mjs')));
await build({ ...nodeBundle([resolve(root, 'src/node/index.ts')], resolve(root, 'dist/node.mjs')), sourcemap: false });
await build({
  entryPoints: [resolve(root, 'src/index.ts')],
  outfile: resolve(root, 'dist/browser.mjs'),
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  loader: { '.wgsl': 'text' },
  logLevel: 'warning',
});
const web = resolve(root, 'web/main.ts');
if (existsSync(web)) {
  await build({
    entryPoints: [web],
    outfile: resolve(root, 'dist/web/main.js'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    loader: { '.wgsl': 'text' },
    logLevel: 'warning',
  });
}
