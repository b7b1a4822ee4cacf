// Without a usable Vulkan driver, Node must fail fast with advice, never hang or crash; with
// Chromium's SwiftShader as the only driver, Dawn runs on it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

function openEngine(env: Record<string, string>) {
  return spawnSync(process.execPath, ['scripts/run-ts.mjs', 'test/fixtures/open-engine.ts'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('GPU access in Node', () => {
  it('with no Vulkan driver: a clear error naming the set-up script, a non-zero exit, no hang', () => {
    const r = openEngine({ VK_ICD_FILENAMES: '/nonexistent/icd.json' });
    expect(r.signal, 'killed by the timeout or a crash').toBeNull();
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/No WebGPU adapter is available/);
    expect(r.stderr).toMatch(/scripts\/setup-webgpu\.sh/);
  });

  const swiftshader = '/usr/lib/chromium/vk_swiftshader_icd.json';
  it.runIf(existsSync(swiftshader))('with only SwiftShader: Dawn opens it and the process exits by itself', () => {
    const r = openEngine({ VK_ICD_FILENAMES: swiftshader });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/adapter: .*swiftshader/i);
  });
});
