// Atomic writes and image reading by path (src/node/files.ts).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeBmp, encodeTiff, ImageFormatError, type RgbaImage } from '../src/io/image.js';
import { checkOutputDir, readImageFile, writeFileAtomic } from '../src/node/files.js';
import { execFileSync } from 'node:child_process';

const dir = mkdtempSync(join(tmpdir(), 'mitoscan-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tmpFiles = (d: string) => readdirSync(d).filter((n) => n.endsWith('.tmp'));

function image(width: number, height: number, seed: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 ? 255 : (i * 31 + seed * 17) % 256;
  return { width, height, data };
}

describe('writeFileAtomic', () => {
  it('creates parent folders, writes strings and bytes, replaces whole files and leaves no temporary files', async () => {
    const p = join(dir, 'a/b/out.txt');
    await writeFileAtomic(p, 'first ü');
    expect(readFileSync(p, 'utf8')).toBe('first ü');
    await writeFileAtomic(p, new TextEncoder().encode('second'));
    expect(readFileSync(p, 'utf8')).toBe('second');
    expect(readdirSync(join(dir, 'a/b'))).toEqual(['out.txt']);
  });

  it('a reader never sees a partial file while a large one is written', async () => {
    const p = join(dir, 'big.bin');
    writeFileSync(p, 'old');
    const big = new Uint8Array(24 << 20).fill(7);
    let done = false;
    const seen = new Set<number>();
    const writing = writeFileAtomic(p, big).finally(() => (done = true));
    while (!done) seen.add((await readFile(p)).length); // interleaves with the write's own I/O
    await writing;
    seen.add(readFileSync(p).length);
    expect([...seen].every((n) => n === 3 || n === big.length), `sizes seen: ${[...seen]}`).toBe(true);
    expect(seen.has(big.length)).toBe(true);
    expect(tmpFiles(dir)).toEqual([]);
  });

  it('concurrent writers to one path do not mix: the result is one of them, whole', async () => {
    const p = join(dir, 'race.txt');
    const texts = Array.from({ length: 8 }, (_, i) => String(i).repeat(10000 + i));
    await Promise.all(texts.map((t) => writeFileAtomic(p, t)));
    expect(texts).toContain(readFileSync(p, 'utf8'));
    expect(tmpFiles(dir)).toEqual([]);
  });

  it('a failed write names the path, keeps the old content and removes its temporary file', async () => {
    // the rename fails: a folder is in the way (after the temporary file was written and flushed)
    const blocked = join(dir, 'blocked');
    await writeFileAtomic(join(blocked, 'inside.txt'), 'x');
    await expect(writeFileAtomic(blocked, 'new')).rejects.toThrow(`${blocked}: could not write the file`);
    expect(readdirSync(blocked)).toEqual(['inside.txt']);
    expect(tmpFiles(dir)).toEqual([]);
    // the write itself fails (the data is not writable): the old file survives untouched
    const p = join(dir, 'keep.txt');
    await writeFileAtomic(p, 'old');
    await expect(writeFileAtomic(p, 42 as unknown as string)).rejects.toThrow(`${p}: could not write the file`);
    expect(readFileSync(p, 'utf8')).toBe('old');
    expect(tmpFiles(dir)).toEqual([]);
    // the parent "folder" is a file
    await expect(writeFileAtomic(join(p, 'sub.txt'), 'x')).rejects.toThrow(`${join(p, 'sub.txt')}: could not write the file`);
  });
});

describe('readImageFile', () => {
  it('decodes by content whatever the extension, and reads TIFF pages', async () => {
    const img = image(9, 7, 3);
    const p = join(dir, 'frame.png'); // a BMP, named .png: the bytes decide
    writeFileSync(p, encodeBmp(img));
    const back = await readImageFile(p);
    expect([back.width, back.height, Buffer.from(back.data).equals(Buffer.from(img.data))]).toEqual([9, 7, true]);
    const stack = join(dir, 'stack.tif');
    await writeFileAtomic(stack, encodeTiff([img, image(4, 5, 6)]));
    expect((await readImageFile(stack, { page: 1 })).width).toBe(4);
    await expect(readImageFile(stack, { page: 2 })).rejects.toThrow(`${stack}: has 2 page(s); page 2 does not exist`);
  });

  it('errors name the path: missing, a folder, not an image, truncated', async () => {
    const missing = join(dir, 'missing.tif');
    await expect(readImageFile(missing)).rejects.toThrow(`${missing}: no such file`);
    await expect(readImageFile(dir)).rejects.toThrow(`${dir}: is a folder, not an image`);
    const notes = join(dir, 'notes.tif');
    writeFileSync(notes, 'hello');
    await expect(readImageFile(notes)).rejects.toThrow(`${notes}: not a TIFF, PNG, JPEG or BMP image`);
    const cut = join(dir, 'cut.bmp');
    writeFileSync(cut, encodeBmp(image(20, 20, 1)).subarray(0, 600));
    const err = await readImageFile(cut).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageFormatError);
    expect((err as Error).message).toBe(`${cut}: truncated BMP pixel data`);
  });
});

describe('hostile paths', () => {
  it('reads only regular files: /dev/zero and a FIFO fail at once, naming the file', async () => {
    await expect(readImageFile('/dev/zero')).rejects.toThrow('/dev/zero: is a character device, not a regular file');
    const fifo = join(dir, 'pipe.tif');
    execFileSync('mkfifo', [fifo]);
    await expect(readImageFile(fifo)).rejects.toThrow(`${fifo}: is a named pipe (FIFO), not a regular file`);
    await expect(readImageFile('')).rejects.toThrow(/no image given: the path is empty/);
  });

  it('checkOutputDir refuses a file, a path below a file and /proc before any work', async () => {
    const f = join(dir, 'plain.txt');
    writeFileSync(f, 'x');
    await expect(checkOutputDir(f)).rejects.toThrow(`${f}: the output folder (--out) cannot be used: ${f} is a file, not a folder; choose another --out folder`);
    await expect(checkOutputDir(join(f, 'sub'))).rejects.toThrow(/is a file, not a folder/);
    await expect(checkOutputDir('/proc/mitoscan-test/x')).rejects.toThrow(/under \/proc, a kernel file system/);
    await expect(writeFileAtomic('/proc/mitoscan-test/x.csv', 'x')).rejects.toThrow(/under \/proc/);
    await checkOutputDir(join(dir, 'new/deeper')); // fine, and creates nothing
    expect(readdirSync(dir)).not.toContain('new');
  });
});
