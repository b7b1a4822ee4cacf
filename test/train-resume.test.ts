// `mitoscan train` is kill-safe: a run SIGKILLed in the middle of an epoch (after its first
// epoch checkpoint appeared) and started again with --resume writes a model file byte for byte equal
// to an uninterrupted run's. Tiny synthetic data (3 fields of 96x96 at 0.9824 µm/px), a 15x15 net.
// The CLI runs in child processes (bundled once with esbuild, as scripts/run-ts.mjs does).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleCli } from './helpers/cli.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../pipelines/args.js';
import { run } from '../pipelines/train.js';
import { decodeModel } from '../src/model/model-file.js';
import { decodeCheckpoint } from '../src/train/checkpoint.js';

const ROOT = resolve(import.meta.dirname, '..');
// under the repository (not /tmp) so that the bundle finds node_modules/webgpu
const TMP = join(ROOT, 'dist', `test-train-resume-${process.pid}`);
const CLI = join(TMP, 'cli.mjs');

const SPEC = {
  name: 'tiny15',
  input: { channels: 3, size: 15 },
  layers: [{ type: 'conv', maps: 4, k: 4 }, { type: 'maxpool', k: 2 }, { type: 'conv', maps: 6, k: 3 }, { type: 'maxpool', k: 2 }, { type: 'fc', units: 8 }, { type: 'fc', units: 2 }],
  activation: 'tanh',
};
const ARGS = [
  'train', '--synthetic', '3', '--size', '96', '--train-mpp', '0.9824', '--spec', 'spec.json', '--samples', '1000',
  '--stage1-epochs', '2', '--stage1-samples', '200', '--epochs', '4', '--batch', '32', '--val-fraction', '0.34',
  '--patience', '0', '--seed', '3', '--out', 'model.mitoscan',
];

interface Child {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function start(dir: string, args: string[], onStart?: (kill: () => void) => void): Promise<Child> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: dir, env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.stdout.on('data', () => {});
    p.on('error', fail);
    p.on('exit', (code, signal) => done({ code, signal, stderr }));
    onStart?.(() => p.kill('SIGKILL'));
  });
}

function workDir(name: string): string {
  const d = join(TMP, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'spec.json'), JSON.stringify(SPEC));
  return d;
}

beforeAll(async () => {
  mkdirSync(TMP, { recursive: true });
  await bundleCli(CLI);
});
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

describe('mitoscan train --resume', () => {
  it('a run killed mid-epoch and resumed writes the same model, byte for byte', async () => {
    const a = workDir('a');
    const full = await start(a, ARGS);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stderr).toMatch(/stage 1: training Cd/);
    expect(full.stderr).toMatch(/epoch 4\/4: train loss [\d.]+, val loss [\d.]+, val acc [\d.]+, val AUC [\d.]+, lr /);
    const modelA = readFileSync(join(a, 'model.mitoscan'));

    // the same command, SIGKILLed as soon as the checkpoint of epoch 1 (or later) is on disk
    const b = workDir('b');
    const ckpt = join(b, 'model.mitoscan.ckpt');
    let killedAfter = -1;
    const killed = await start(b, ARGS, (kill) => {
      const poll = setInterval(() => {
        if (!existsSync(ckpt)) return;
        const epoch = decodeCheckpoint(readFileSync(ckpt), ckpt).state.epoch;
        if (epoch >= 1) {
          clearInterval(poll);
          killedAfter = epoch;
          kill();
        }
      }, 10);
    });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(killedAfter).toBeGreaterThanOrEqual(1);
    expect(killedAfter).toBeLessThan(4);
    expect(existsSync(join(b, 'model.mitoscan'))).toBe(false);

    const resumed = await start(b, [...ARGS, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming from model.mitoscan.ckpt after epoch \d/);
    expect(resumed.stderr).not.toMatch(/stage 1/);
    const modelB = readFileSync(join(b, 'model.mitoscan'));
    expect(modelB.equals(modelA)).toBe(true);

    const m = decodeModel(modelA, 'model.mitoscan');
    expect(m.umPerPixel).toBe(0.9824);
    expect(m.spec.name).toBe('tiny15');
    expect(m.provenance.date).toBe('2023-11-14T22:13:20.000Z');
    expect(m.provenance.seed).toBe(3);
    expect(m.provenance.epochs).toBe(4);
    expect(m.provenance.command).toBe(`mitoscan ${ARGS.join(' ')}`);
    expect(m.provenance.dataset).toMatch(/synthetic: 3 procedural fields/);
    expect(m.provenance.metrics?.valLoss).toBeGreaterThan(0);
    // the detection threshold chosen on the validation field
    expect(m.provenance.threshold).toBeGreaterThan(0);
    expect(m.provenance.threshold).toBeLessThan(1);
    expect(full.stderr).toMatch(/detection on 1 validation image\(s\): best F1/);

    // resuming with other settings is refused, naming the difference
    const other = await start(b, [...ARGS.map((x, i) => (ARGS[i - 1] === '--seed' ? '4' : x)), '--resume']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/made with other settings[\s\S]*seed: 3 \(checkpoint\) vs 4 \(now\)/);
  });

  it('explains bad usage', async () => {
    await expect(run([])).rejects.toThrow(UsageError);
    await expect(run(['--out', 'x.mitoscan'])).rejects.toThrow(/no data: give a labelled dataset folder/);
    await expect(run(['--synthetic', '2', '--out', 'x.mitoscan', '--optimizer', 'adam'])).rejects.toThrow(/--optimizer: 'adam' is not sgd or adagrad/);
    await expect(run(['--synthetic', '2', '--out', 'x.mitoscan', '--epochs', '0'])).rejects.toThrow(/--epochs/);
    await expect(run(['--synthetic', '2', '--out', 'x.mitoscan', '--spec', 'DNN3'])).rejects.toThrow(/not one of DNN1, DNN2, compact20x/);
    await expect(run(['--synthetic', '2', '--out', 'x.mitoscan', '--bogus', '1'])).rejects.toThrow(/unknown option --bogus/);
    await expect(run(['some/folder', '--synthetic', '2', '--out', 'x.mitoscan'])).rejects.toThrow(/not both/);
  });
});
