// The same kernels, bundled by esbuild, run in real headless Chromium (SwiftShader WebGPU) and must
// give the numbers Node (Dawn) gives, to 1e-5 relative.
import { build } from 'esbuild';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { createNodeEngine } from '../engine/node.js';
import { runParityCases, type ParityResults } from './parity/cases.js';
import { launchChromium, serveRoutes } from './helpers/chromium.js';

let browser: Browser;
let server: { url: string; close: () => Promise<void> };

beforeAll(async () => {
  const bundle = await build({
    entryPoints: [resolve(import.meta.dirname, 'browser/parity-entry.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    loader: { '.wgsl': 'text' },
  });
  server = await serveRoutes({
    '/': { type: 'text/html', body: '<!doctype html><title>parity</title><script type="module" src="/parity.js"></script>' },
    '/parity.js': { type: 'text/javascript', body: bundle.outputFiles[0].text },
  });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('browser parity', () => {
  it('Chromium WebGPU and Node Dawn give the same kernel outputs to 1e-5 relative', async () => {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    await page.goto(server.url + '/');
    await page.waitForFunction(() => window.__parity !== undefined, undefined, { timeout: 240_000 });
    const res = await page.evaluate(() => window.__parity!);
    if (!res.ok) throw new Error(`in Chromium: ${res.error}\nconsole:\n${logs.join('\n')}`);
    console.log(`browser adapter: ${res.adapter}`);

    const e = await createNodeEngine();
    // lavapipe has subgroups of 8 (the subgroup forms run), SwiftShader of 4 (the plain forms run):
    // then this also checks one form against the other
    console.log(`node adapter: ${e.adapterName} (subgroups: ${e.subgroupMinSize ? `min ${e.subgroupMinSize} lanes` : 'none'})`);
    let node: ParityResults;
    try {
      node = await runParityCases(e);
    } finally {
      e.destroy();
    }
    expect(Object.keys(res.results).sort()).toEqual(Object.keys(node).sort());
    for (const [name, want] of Object.entries(node)) {
      const got: number[] = res.results[name];
      expect(got.length, name).toBe(want.length);
      for (let i = 0; i < want.length; i++) {
        const tol = 1e-5 * Math.max(1, Math.abs(want[i]));
        if (!(Math.abs(got[i] - want[i]) <= tol)) {
          expect.fail(`${name}[${i}]: browser ${got[i]} vs node ${want[i]}`);
        }
      }
    }
  });
});
