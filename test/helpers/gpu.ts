// Shared test set-up: one Dawn engine per test file (created in beforeAll, destroyed in afterAll).
import { afterAll, beforeAll } from 'vitest';
import { createNodeEngine } from '../../engine/node.js';
import type { Engine } from '../../engine/engine.js';

export function useEngine(): { readonly e: Engine } {
  const box: { e: Engine } = {} as { e: Engine };
  beforeAll(async () => {
    box.e = await createNodeEngine();
  });
  afterAll(() => box.e?.destroy());
  return box;
}
