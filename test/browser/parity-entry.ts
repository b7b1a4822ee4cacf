// Bundled by test/browser-parity.test.ts and run in headless Chromium.
import { createBrowserEngine } from '../../engine/browser.js';
import { runParityCases } from '../parity/cases.js';

declare global {
  interface Window {
    __parity?: { ok: true; adapter: string; results: Record<string, number[]> } | { ok: false; error: string };
  }
}

(async () => {
  try {
    const e = await createBrowserEngine();
    const results = await runParityCases(e);
    window.__parity = { ok: true, adapter: `${e.adapterName} (subgroups: ${e.subgroupMinSize ? `min ${e.subgroupMinSize} lanes` : "none"})`, results };
    e.destroy();
  } catch (err) {
    window.__parity = { ok: false, error: String((err as Error)?.stack ?? err) };
  }
})();
