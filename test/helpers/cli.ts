// The CLI bundled once for tests that run it in child processes (as `npm ci` builds dist/mitoscan.mjs).
// The bundle must live under the repository so that it finds node_modules/webgpu.
import { build } from 'esbuild';
import { resolve } from 'node:path';
import { nodeBundle } from '../../scripts/esbuild-options.mjs';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export async function bundleCli(outfile: string): Promise<string> {
  await build({ ...nodeBundle([resolve(REPO_ROOT, 'pipelines/cli.ts')], outfile), sourcemap: false });
  return outfile;
}
