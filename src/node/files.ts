// Files on disk (Node only). Everything the project writes goes through writeFileAtomic: a crash,
// a full disk or a concurrent reader sees either the old file or the new one, never half of one.
import { randomBytes } from 'node:crypto';
import { constants, readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { access, mkdir, open, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { countImagePages, decodeImage, ImageFormatError, type RgbaImage } from '../io/image.js';

/**
 * Writes `data` (a string is written as UTF-8) to `path`: into a temporary file in the same folder
 * (a rename is only atomic within one file system), flushed to disk, then renamed over `path`.
 * Creates missing parent folders. On failure the temporary file is removed, `path` is untouched,
 * and the error names `path`.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const dir = dirname(path);
  // unique per process and call, so that concurrent writers never share a temporary file
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await makeDirs(dir);
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync(); // the bytes are on disk before the name points at them
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new Error(`${path}: could not write the file (${(e as Error).message})`);
  }
  // make the rename itself durable; best effort (not every platform can open a folder)
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    /* the file is complete either way */
  }
}

/**
 * The largest file mitoscan reads: 2 GiB, what Node reads into memory at once (readFile's own cap)
 * and far above any image within the pixel limit (100 MP of RGBA is 400 MB uncompressed).
 */
export const MAX_FILE_BYTES = 2 ** 31 - 1;

/**
 * The bytes of a regular file, after checking (stat first) that it is one and not above `limit`
 * bytes: /dev/zero, a FIFO or a folder would otherwise be read forever or hang. Every error is an
 * Error (or, with `ErrorClass`, that class built as (path, problem)) naming the path.
 */
export async function readRegularFile(path: string, what = 'file', limit = MAX_FILE_BYTES, ErrorClass: new (name: string, problem: string) => Error = PathError): Promise<Uint8Array> {
  await checkRegularFile(path, what, limit, ErrorClass);
  try {
    const b = await readFile(path);
    if (b.length > limit) throw new ErrorClass(path, `grew past ${fmtBytes(limit)} while being read`);
    return b;
  } catch (e) {
    if (e instanceof ErrorClass) throw e;
    throw new ErrorClass(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

const article = (word: string) => (/^[aeiou]/.test(word) ? 'an' : 'a');

/** The checks of readRegularFile without the reading: `path` is a regular file of at most `limit` bytes. */
export async function checkRegularFile(path: string, what = 'file', limit = MAX_FILE_BYTES, ErrorClass: new (name: string, problem: string) => Error = PathError): Promise<void> {
  if (!path) throw new ErrorClass(`(empty ${what} path)`, `no ${what} given: the path is empty`);
  let s;
  try {
    s = await stat(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ErrorClass(path, err.code === 'ENOENT' ? `no such ${what === 'image' ? 'file' : what}` : `cannot be read (${err.code ?? err.message})`);
  }
  if (s.isDirectory()) throw new ErrorClass(path, `is a folder, not ${article(what)} ${what}`);
  if (!s.isFile()) {
    const kind = s.isFIFO() ? 'a named pipe (FIFO)' : s.isCharacterDevice() ? 'a character device' : s.isBlockDevice() ? 'a block device' : s.isSocket() ? 'a socket' : 'not a regular file';
    throw new ErrorClass(path, `is ${kind}, not a regular file; only regular files are read as ${article(what)} ${what}: copy the data into a file first`);
  }
  if (s.size > limit) {
    // an image or slide can be cut into smaller ones; any other file of this size is not what it claims
    const remedy = what === 'image' || what === 'slide' ? 'crop or split it into smaller files first' : `is it really ${article(what)} ${what}?`;
    throw new ErrorClass(path, `is ${fmtBytes(s.size)}, more than the ${fmtBytes(limit)} mitoscan reads as ${article(what)} ${what}; ${remedy}`);
  }
}

class PathError extends Error {
  constructor(name: string, problem: string) {
    super(`${name}: ${problem}`);
  }
}

function fmtBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${n} bytes`;
}

// Kernel file systems: a folder there cannot hold outputs (and Node's recursive mkdir can spin on them).
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];
const PSEUDO_FS: Record<number, string> = { 0x9fa0: 'procfs', 0x62656572: 'sysfs', 0x1cd1: 'devpts', 0x64626720: 'debugfs', 0x74726163: 'tracefs', 0x27e0eb: 'cgroup', 0x63677270: 'cgroup2' };

/** The folders of `abs` that do not exist yet (deepest first) and its nearest existing ancestor, checked. */
async function existingAncestor(abs: string): Promise<{ missing: string[]; at: string }> {
  const missing: string[] = [];
  let at = abs;
  for (;;) {
    const s = await stat(at).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? undefined : Promise.reject(e)));
    if (s) {
      if (!s.isDirectory()) throw new Error(`${at} is a file, not a folder`);
      break;
    }
    missing.push(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  const under = (p: string) => PSEUDO_ROOTS.find((r) => p === r || p.startsWith(r + sep));
  const r = process.platform === 'win32' ? undefined : (under(abs) ?? under(at));
  if (r) throw new Error(`${abs} ${abs === r ? 'is' : `is under ${r},`} a kernel file system, not a place for files`);
  if (process.platform === 'linux') {
    const fs = await statfs(at).catch(() => undefined);
    if (fs && PSEUDO_FS[fs.type]) throw new Error(`${at} is on ${PSEUDO_FS[fs.type]}, a kernel file system, not a place for files`);
  }
  return { missing, at };
}

/** Missing folders of `dir` made one level at a time (Node's recursive mkdir can spin on /proc). */
async function makeDirs(dir: string): Promise<void> {
  const { missing } = await existingAncestor(resolve(dir));
  for (const d of missing.reverse()) await mkdir(d).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
}

/**
 * Checks, before any work, that the output folder `dir` can be written: it (or, when it does not
 * exist yet, its nearest existing parent) is a folder, not a file; it is not under /proc, /sys or
 * /dev nor on a kernel file system; it is writable. Creates nothing. Throws one Error naming `dir`,
 * the problem and what to do.
 */
export async function checkOutputDir(dir: string, flag = '--out'): Promise<void> {
  if (!dir.trim()) throw new Error(`${flag}: the output folder path is empty; give a folder`);
  const abs = resolve(dir);
  try {
    const { at } = await existingAncestor(abs);
    await access(at, constants.W_OK | constants.X_OK);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EACCES' || err.code === 'EPERM' ? 'is not writable (permission denied)' : err.code === 'EROFS' ? 'is on a read-only file system' : err.code ? `cannot be used (${err.code})` : `cannot be used: ${err.message}`;
    throw new Error(`${abs}: the output folder (${flag}) ${why}; choose another ${flag} folder`);
  }
}

async function readImageBytes(path: string): Promise<Uint8Array> {
  return readRegularFile(path, 'image', MAX_FILE_BYTES, ImageFormatError);
}

/** Reads and decodes an image (TIFF, PNG, JPEG or BMP, by content); every error names the path. */
export async function readImageFile(path: string, opts: { page?: number } = {}): Promise<RgbaImage> {
  return decodeImage(await readImageBytes(path), path, opts);
}

/** The number of pages of an image file (a multi-page TIFF's; 1 for the other formats). */
export async function readImagePageCount(path: string): Promise<number> {
  return countImagePages(await readImageBytes(path), path);
}

/**
 * Checks, before any work, that `path` can be an output file (train's --out model): not a folder,
 * not a special file, and its folder passes checkOutputDir. Creates nothing. Throws one Error
 * naming `path`, the problem and what to do.
 */
export async function checkOutputFile(path: string, flag = '--out', opts: { force?: boolean; ifExists?: string } = {}): Promise<void> {
  if (!path.trim()) throw new Error(`${flag}: the output file path is empty; give a file such as model.mitoscan`);
  const abs = resolve(path);
  if (/[/\\]$/.test(path)) throw new Error(`${abs}: ${flag} names a folder (it ends in a slash); give a file such as ${join(abs, 'model.mitoscan')}`);
  const s = await stat(abs).catch(() => undefined);
  if (s?.isDirectory()) throw new Error(`${abs}: ${flag} names a folder, not a file; give a file such as ${join(abs, 'model.mitoscan')}`);
  if (s && !s.isFile()) throw new Error(`${abs}: ${flag} names a special file (not a regular file); give a regular file path`);
  // `force: false` asks for no silent overwrite (omitted: the caller decides)
  if (s && opts.force === false) throw new Error(`${abs}: ${flag} names a file that exists; ${opts.ifExists ?? 'add --force to replace it, or choose another file'}`);
  try {
    await checkOutputDir(dirname(abs), flag);
  } catch (e) {
    throw new Error(`${abs}: ${(e as Error).message}`);
  }
}

/**
 * Refuses to overwrite results: throws (naming `dir`, the files and --force) when `dir` already
 * holds any of `names` and `force` is false. Returns the names that exist (to be replaced when
 * `force`). A missing `dir` holds nothing.
 */
export async function checkExistingResults(dir: string, names: readonly string[], force: boolean, flag = '--out'): Promise<string[]> {
  const abs = resolve(dir);
  const found: string[] = [];
  for (const n of new Set(names)) if (await stat(join(abs, n)).then(() => true, () => false)) found.push(n);
  if (found.length && !force) {
    const shown = found.length > 6 ? `${found.slice(0, 6).join(', ')} and ${found.length - 6} more` : found.join(', ');
    throw new Error(`${abs} already holds results that this run would overwrite (${shown}); add --force to replace them, or choose another ${flag} folder`);
  }
  return found;
}

/** The lock file that marks an output folder in use (src/node/files.ts lockOutputDir). */
export const LOCK_NAME = '.mitoscan.lock';

export interface OutputLock {
  path: string;
  /** Removes the lock file (idempotent; also done when the process exits). */
  release(): void;
}

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
}

/** True when the process `pid` is alive (or cannot be signalled for lack of permission: then it exists). */
function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(path: string): Promise<{ raw: string; info?: LockInfo } | undefined> {
  const raw = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
  if (raw === undefined) return undefined;
  try {
    const info = JSON.parse(raw) as LockInfo;
    return { raw, info: typeof info?.pid === 'number' ? info : undefined };
  } catch {
    return { raw };
  }
}

/**
 * Takes the output folder `dir` for this process: creates `dir` (when missing) and, with an
 * exclusive create (O_EXCL), `dir/.mitoscan.lock` holding this process's pid, host, start time
 * and `command`. While it exists a second run on the same folder is refused with a message naming
 * the holder. The lock is removed by release() and, at the latest, when the process exits. A lock
 * left by a dead process (a crash, kill -9) on this host is taken over with a warning
 * (`onWarning`). Two processes taking over one stale lock at once are serialised by a second
 * exclusive file (`.mitoscan.lock.takeover`).
 */
export async function lockOutputDir(dir: string, command: string, opts: { flag?: string; onWarning?: (msg: string) => void } = {}): Promise<OutputLock> {
  const flag = opts.flag ?? '--out';
  const abs = resolve(dir);
  await makeDirs(abs);
  const path = join(abs, LOCK_NAME);
  const mine: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command: command.replace(/[^\x20-\x7e]/g, '?').slice(0, 300) };
  const body = JSON.stringify(mine) + '\n';
  const create = async (): Promise<boolean> => {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(body);
      } finally {
        await fh.close();
      }
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new Error(`${abs}: could not lock the output folder (${flag}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const busy = (info: LockInfo | undefined) =>
    new Error(
      `${abs} is in use by another mitoscan run${info ? ` (pid ${info.pid} on ${info.host}, since ${info.started}: ${info.command})` : ''}; ` +
        `wait for it to finish or choose another ${flag} folder (if no such run is going, delete ${path})`,
    );
  for (let attempt = 0; !(await create()); attempt++) {
    const held = await readLock(path);
    if (!held) {
      if (attempt >= 20) throw busy(undefined);
      continue; // released meanwhile: try again
    }
    const info = held.info;
    const stale = info !== undefined && info.host === hostname() && info.pid !== process.pid && !pidAlive(info.pid);
    if (!stale || attempt >= 20) throw busy(info);
    const takeover = `${path}.takeover`;
    let fh;
    try {
      fh = await open(takeover, 'wx');
    } catch {
      await new Promise((r) => setTimeout(r, 50)); // another process is taking the stale lock over: look again
      continue;
    }
    try {
      await fh.close();
      const again = await readLock(path);
      if (again && again.raw === held.raw) {
        await rm(path, { force: true });
        opts.onWarning?.(`${path}: took over a stale lock left by pid ${info.pid} (${info.command}, since ${info.started}), which is no longer running`);
      }
    } finally {
      await rm(takeover, { force: true });
    }
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      // only our own lock: never one another process took over after us
      if (readFileSync(path, 'utf8') === body) unlinkSync(path);
    } catch {
      /* already gone */
    }
  };
  process.on('exit', release);
  return { path, release };
}
