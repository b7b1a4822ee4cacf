// Hostile input: the CLI (bundled as `npm ci` builds it) on every case of the corpus of
// test/fixtures/bad/make-corpus.ts (truncated, corrupt and size-lying images of every format,
// decompression bombs, special files, broken model files, binary label files, bad flags and output
// folders), each in a child process under /usr/bin/time -v. Every case must fail cleanly: exit
// status 1 or 2, under 20 s, peak RSS under 700 MB, stderr naming the file (or flag) and the
// problem, and no stack trace. Every case fails before the GPU is opened, so each costs one Node
// start (~0.5 s); two run at a time.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleCli } from './helpers/cli.js';
import { makeCorpus, type Case } from './fixtures/bad/make-corpus.js';
import { resolveSpec } from '../pipelines/spec-flag.js';
import { checkExistingResults, checkOutputFile, LOCK_NAME, lockOutputDir } from '../src/node/files.js';
import { loadModel } from '../src/node/model-io.js';

const TMP = mkdtempSync(join(tmpdir(), 'mitoscan-hostile-'));
const WALL_S = 20;
const RSS_MB = 700;
const TIME = '/usr/bin/time';
let cli: string;
let corpus: ReturnType<typeof makeCorpus>;

interface Result {
  code: number | null;
  stderr: string;
  seconds: number;
  /** Peak resident set size, MB (from /usr/bin/time -v, else from /proc/<pid>/status VmHWM). */
  rssMb: number;
}

function runCli(args: string[], i: number): Promise<Result> {
  return new Promise((done) => {
    const t0 = Date.now();
    const timeFile = join(TMP, `time-${i}.txt`);
    const useTime = existsSync(TIME);
    const argv = [cli, ...args];
    const child = useTime ? spawn(TIME, ['-v', '-o', timeFile, process.execPath, ...argv]) : spawn(process.execPath, argv);
    let stderr = '';
    let hwm = 0;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) hwm = Math.max(hwm, +m[1]);
      } catch {
        /* gone */
      }
    }, 50);
    const killer = setTimeout(() => child.kill('SIGKILL'), (WALL_S + 10) * 1000);
    child.on('close', (code) => {
      clearInterval(poll);
      clearTimeout(killer);
      let rssMb = hwm / 1024;
      if (useTime && existsSync(timeFile)) {
        const t = readFileSync(timeFile, 'utf8');
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(t);
        if (m) rssMb = +m[1] / 1024;
        const st = /Exit status: (\d+)/.exec(t);
        if (st) code = +st[1];
      }
      done({ code, stderr, seconds: (Date.now() - t0) / 1000, rssMb });
    });
  });
}

const results = new Map<string, Result>();

beforeAll(async () => {
  cli = await bundleCli(join(import.meta.dirname, '../dist/test-hostile-cli.mjs'));
  corpus = makeCorpus(join(TMP, 'corpus'));
  const queue = corpus.cases.map((c, i) => [c, i] as const);
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) results.set(job[0].name, await runCli(job[0].args, job[1]));
  };
  await Promise.all([worker(), worker()]);
}, 180_000);
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

describe('hostile input', () => {
  it('the corpus holds at least 40 cases', () => {
    expect(corpus.cases.length).toBeGreaterThanOrEqual(40);
  });

  it('every case fails fast and cleanly, naming the file or flag and the problem', () => {
    const bad: string[] = [];
    for (const c of corpus.cases as Case[]) {
      const r = results.get(c.name)!;
      const why: string[] = [];
      if (r.code !== 1 && r.code !== 2) why.push(`exit status ${r.code}`);
      if (r.seconds > WALL_S) why.push(`${r.seconds.toFixed(1)} s`);
      if (r.rssMb > RSS_MB) why.push(`peak RSS ${r.rssMb.toFixed(0)} MB`);
      if (!r.stderr.includes(c.names)) why.push(`stderr does not name ${c.names}`);
      if (!c.problem.test(r.stderr)) why.push(`stderr does not match ${c.problem}`);
      if (/^\s+at .+:\d+:\d+\)?$/m.test(r.stderr) || /\n\s+at /.test(r.stderr)) why.push('a stack trace');
      if (/[\x00-\x08\x0e-\x1f\x7f]/.test(r.stderr.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''))) why.push('raw control bytes');
      if (why.length) bad.push(`${c.name} (mitoscan ${c.args.join(' ')}): ${why.join('; ')}\n    stderr: ${r.stderr.trim().slice(0, 400)}`);
    }
    expect(bad, bad.join('\n')).toEqual([]);
  });
});

describe('the checks behind the corpus, in-process', () => {
  const dir = join(TMP, 'unit');
  mkdirSync(dir, { recursive: true });

  it('loadModel stats first: a FIFO or /dev/zero fails at once instead of being read for ever', async () => {
    execFileSync('mkfifo', [join(dir, 'pipe.mitoscan')]);
    await expect(loadModel(join(dir, 'pipe.mitoscan'))).rejects.toThrow(/pipe\.mitoscan: is a named pipe \(FIFO\), not a regular file/);
    await expect(loadModel('/dev/zero')).rejects.toThrow(/\/dev\/zero: is a character device/);
    await expect(loadModel(dir)).rejects.toThrow(/is a folder, not a model file/);
    await expect(loadModel(join(dir, 'none.mitoscan'))).rejects.toThrow(/none\.mitoscan: no such model file/);
  }, 5000);

  it('resolveSpec describes binary bytes instead of echoing them', async () => {
    const f = join(dir, 'bin.json');
    writeFileSync(f, Uint8Array.from([0x7b, 0x01, 0x02, 0x1b, 0x5b, 0x32, 0x4a, 0x7d]));
    const err = await resolveSpec(f).then(() => undefined, (e: Error) => e.message);
    expect(err).toMatch(/bin\.json: holds binary data, not a JSON net spec/);
    expect(err).not.toMatch(/[\x00-\x1f]/);
  });

  it('checkOutputFile refuses a folder, a trailing slash and a kernel file system; accepts a new file', async () => {
    await expect(checkOutputFile(dir)).rejects.toThrow(/names a folder, not a file/);
    await expect(checkOutputFile(join(dir, 'sub') + '/')).rejects.toThrow(/ends in a slash/);
    await expect(checkOutputFile('/proc/x.mitoscan')).rejects.toThrow(/\/proc\/x\.mitoscan: .*\/proc is a kernel file system/);
    await expect(checkOutputFile('')).rejects.toThrow(/empty/);
    await expect(checkOutputFile(join(dir, 'new', 'model.mitoscan'))).resolves.toBeUndefined();
    expect(existsSync(join(dir, 'new'))).toBe(false); // creates nothing
  });

  it('checkExistingResults names the files and --force', async () => {
    const d = join(dir, 'res');
    mkdirSync(d);
    writeFileSync(join(d, 'summary.csv'), '');
    await expect(checkExistingResults(d, ['summary.csv', 'a.csv'], false)).rejects.toThrow(/already holds results that this run would overwrite \(summary\.csv\); add --force to replace them/);
    expect(await checkExistingResults(d, ['summary.csv', 'a.csv'], true)).toEqual(['summary.csv']);
    expect(await checkExistingResults(join(dir, 'absent'), ['summary.csv'], false)).toEqual([]);
  });

  it('lockOutputDir: exclusive, released, a live holder refused, a dead one taken over with a warning', async () => {
    const d = join(dir, 'locked');
    const a = await lockOutputDir(d, 'mitoscan detect a');
    expect(JSON.parse(readFileSync(join(d, LOCK_NAME), 'utf8'))).toMatchObject({ pid: process.pid, command: 'mitoscan detect a' });
    await expect(lockOutputDir(d, 'mitoscan detect b')).rejects.toThrow(new RegExp(`${d.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another mitoscan run \\(pid ${process.pid} .*mitoscan detect a\\)`));
    a.release();
    expect(existsSync(join(d, LOCK_NAME))).toBe(false);
    // a lock left by a process that has exited
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(d, LOCK_NAME), JSON.stringify({ pid: dead, host: hostname(), started: '2020-01-01T00:00:00.000Z', command: 'mitoscan detect crashed' }));
    const warnings: string[] = [];
    const b = await lockOutputDir(d, 'mitoscan detect c', { onWarning: (m) => warnings.push(m) });
    expect(warnings.join('\n')).toMatch(new RegExp(`took over a stale lock left by pid ${dead} \\(mitoscan detect crashed`));
    expect(JSON.parse(readFileSync(join(d, LOCK_NAME), 'utf8')).pid).toBe(process.pid);
    b.release();
    // a lock of another host cannot be checked: refused
    writeFileSync(join(d, LOCK_NAME), JSON.stringify({ pid: dead, host: `not-${hostname()}`, started: 'x', command: 'y' }));
    await expect(lockOutputDir(d, 'z')).rejects.toThrow(/in use by another mitoscan run/);
  });
});

