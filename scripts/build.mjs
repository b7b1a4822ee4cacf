#!/usr/bin/env node
// Builds the CLI (dist/mitoscan.mjs), the library (dist/node.mjs for Node, dist/browser.mjs for
// browsers: package.json "exports") and the web page bundle (dist/web/).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { browserBundle, nodeBundle } from './esbuild-options.mjs';

const root = resolve(import.meta.dirname, '..');
const cli = resolve(root, 'pipelines/cli.ts');
if (existsSync(cli)) await build(nodeBundle([cli], resolve(root, 'dist/mitoscan.mjs')));
await build({ ...nodeBundle([resolve(root, 'src/node/index.ts')], resolve(root, 'dist/node.mjs')), sourcemap: false });
await build(browserBundle([resolve(root, 'src/index.ts')], resolve(root, 'dist/browser.mjs')));
const web = resolve(root, 'web/main.ts');
if (existsSync(web)) {
  await build(browserBundle([web], resolve(root, 'dist/web/main.js')));
}
