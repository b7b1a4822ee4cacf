// `mitoscan serve [--port 8080] [--host 127.0.0.1] [--open]`: the detection web page (web/) on a
// small static HTTP server (node:http, no framework). It serves only:
//   /, /index.html, /style.css and the other files directly in web/   (the page)
//   /main.js (+ /main.js.map)                                         (dist/web/main.js, built from web/main.ts)
//   /models/default.mitoscan                                          (the built-in model, when present)
// Every other path, and any path that tries to leave those folders (.., %2e%2e, backslashes,
// NUL), is a 404. GET and HEAD only. The page needs WebGPU, which browsers give only to secure
// contexts: http://localhost and http://127.0.0.1 count as secure, other plain-http hosts do not.
//
// dist/web/main.js is (re)built with esbuild when it is missing or older than the sources (when
// esbuild and the sources are present, i.e. in a source checkout); the bundle is written to a
// temporary file and renamed, so that a request never sees half a file.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, resolve } from 'node:path';
import { DEFAULT_MODEL_FILE, packageRoot } from '../src/node/default-model.js';
import { checkFlags, flagNumber, flagString, parseArgs, UsageError, whole } from './args.js';

const USAGE = `usage: mitoscan serve [--port 8080] [--host 127.0.0.1] [--open]

Serves the detection web page: open an H&E image and a model in the browser, detect mitoses on the
computer's own GPU (WebGPU), look at them and download CSV, JSON or GeoJSON. Images stay in the
browser; the server only hands out the page and the built-in model.

options:
  --port <n>      port to listen on (default 8080; 0 = any free port)
  --host <addr>   address to listen on (default 127.0.0.1: this computer only). Browsers allow
                  WebGPU on http://localhost but not on other plain-http addresses, so for other
                  computers put the page behind https.
  --open          open the page in the default browser

Needs a browser with WebGPU: Chrome/Edge 113+, Firefox 141+ (Windows), Safari 26; on Linux enable
chrome://flags/#enable-unsafe-webgpu. Stop the server with Ctrl+C.`;

const FLAGS = ['port', 'host', 'open', 'help'];

export const MIME: Readonly<Record<string, string>> = Object.freeze({
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.mitoscan': 'application/octet-stream',
});

export interface ServeOptions {
  /** Default 8080; 0 = any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** The mitoscan package folder (default: found from this module). */
  root?: string;
  /** Build dist/web/main.js when missing or stale (default true). */
  build?: boolean;
  /** Called with one line per request that failed (404, 405, 500); default: nothing. */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 (no trailing slash). */
  url: string;
  port: number;
  server: Server;
  /** Stops listening and ends open connections. */
  close: () => Promise<void>;
}

function findRoot(): string {
  const root = packageRoot(import.meta.url);
  if (!root) throw new Error(`no mitoscan package folder (package.json with name "mitoscan") above ${import.meta.url}`);
  return root;
}

/** Newest modification time of the files under `dir` with one of `exts` (0 when none). */
async function newest(dir: string, exts: readonly string[]): Promise<number> {
  let t = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const ent of entries) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) t = Math.max(t, await newest(p, exts));
    else if (exts.some((x) => ent.name.endsWith(x))) t = Math.max(t, (await stat(p)).mtimeMs);
  }
  return t;
}

/**
 * Makes sure `<root>/dist/web/main.js` exists and is not older than web/, src/, engine/ and
 * shaders/; rebuilds it with esbuild otherwise. Returns true when it built.
 */
export async function ensureWebBundle(root: string): Promise<boolean> {
  const out = join(root, 'dist/web/main.js');
  const entry = join(root, 'web/main.ts');
  const haveOut = existsSync(out);
  if (!existsSync(entry)) {
    if (haveOut) return false;
    throw new Error(`${out} is missing and there is no web/main.ts to build it from; reinstall mitoscan`);
  }
  if (haveOut) {
    const built = statSync(out).mtimeMs;
    let src = 0;
    for (const d of ['web', 'src', 'engine', 'shaders']) src = Math.max(src, await newest(join(root, d), ['.ts', '.wgsl']));
    if (src <= built) return false;
  }
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch {
    if (haveOut) return false; // an installed package without dev tools: use the bundle it has
    throw new Error(`${out} is missing and esbuild is not installed to build it; run \`npm run build\` in ${root}`);
  }
  // The settings of scripts/esbuild-options.mjs browserBundle, repeated: an installed package has no scripts/.
  const res = await esbuild.build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    loader: { '.wgsl': 'text' },
    sourcemap: 'linked',
    write: false,
    logLevel: 'silent',
  });
  // write the map first, then the bundle that names it; each by temp file + rename
  const files = [...res.outputFiles].sort((a, b) => Number(a.path.endsWith('.js')) - Number(b.path.endsWith('.js')));
  for (const f of files) {
    const tmp = `${f.path}.${process.pid}.${Date.now()}.tmp`;
    await mkdir(dirname(f.path), { recursive: true });
    await writeFile(tmp, f.contents);
    try {
      await rename(tmp, f.path);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw e;
    }
  }
  return true;
}

/**
 * The file a URL path maps to, or null (a 404). Only plain names are accepted: every segment must
 * be a non-empty name without '..', '\\', ':' or NUL, after percent-decoding, and the result must
 * lie inside the folder it was resolved against.
 */
export function resolveRequest(root: string, urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return null; // malformed percent-encoding
  }
  if (!path.startsWith('/') || /[\\\0:]/.test(path)) return null;
  const segments = path.slice(1).split('/');
  if (segments.some((s) => s === '..' || s === '.')) return null;
  const inside = (dir: string, name: string): string | null => {
    const p = resolve(dir, name);
    return dirname(p) === resolve(dir) ? p : null;
  };
  if (path === '/' || path === '/index.html') return join(root, 'web/index.html');
  if (path === '/main.js' || path === '/main.js.map') return join(root, 'dist/web', path.slice(1));
  if (path === `/${DEFAULT_MODEL_FILE}`) return join(root, DEFAULT_MODEL_FILE);
  // other files directly in web/ (no sub-folders, no sources)
  if (segments.length === 1 && segments[0] && !segments[0].startsWith('.') && !/\.ts$/.test(segments[0])) {
    return inside(join(root, 'web'), segments[0]);
  }
  return null;
}

/** Starts the server; resolves once it listens. */
export async function startServer(opts: ServeOptions = {}): Promise<RunningServer> {
  const root = opts.root ?? findRoot();
  const host = opts.host ?? '127.0.0.1';
  if (opts.build !== false) await ensureWebBundle(root);
  const log = opts.log ?? (() => {});

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      log(`${req.method} ${url}: 405`);
      return;
    }
    const file = resolveRequest(root, url);
    let body: Buffer | null = null;
    if (file) {
      try {
        if ((await stat(file)).isFile()) body = await readFile(file);
      } catch {
        body = null;
      }
    }
    if (!file || !body) {
      const missingModel = url.split('?')[0] === `/${DEFAULT_MODEL_FILE}`;
      res
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
        .end(missingModel ? `no built-in model: ${join(root, DEFAULT_MODEL_FILE)} does not exist (see models/README.md); open a model file in the page\n` : 'not found\n');
      if (!missingModel) log(`${req.method} ${url}: 404`); // a missing model was announced at start
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      log(`${req.method} ${req.url}: 500 ${(e as Error)?.message ?? e}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      fail(
        e.code === 'EADDRINUSE'
          ? new Error(`port ${opts.port ?? 8080} on ${host} is in use; choose another with --port (0 = any free port)`)
          : e.code === 'EADDRNOTAVAIL'
            ? new Error(`--host ${host}: this computer has no such address`)
            : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN'
              ? new Error(`--host ${host}: not an address of this computer nor a name that resolves (give an IP address such as 127.0.0.1, or 0.0.0.0 for every interface)`)
              : e.code === 'EACCES'
                ? new Error(`port ${opts.port ?? 8080}: not allowed for this user (ports below 1024 need privileges); choose another with --port`)
                : e,
      );
    });
    server.listen(opts.port ?? 8080, host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => console.error(`mitoscan serve: could not open a browser (${cmd}); open ${url} yourself`));
    child.unref();
  } catch {
    console.error(`mitoscan serve: could not open a browser; open ${url} yourself`);
  }
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['help', 'open']);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, FLAGS);
  if (args.positionals.length) throw new UsageError(`unexpected argument '${args.positionals[0]}'`);
  const port = flagNumber(args, 'port', 8080, whole(0, 65535));
  const host = flagString(args, 'host', '127.0.0.1')!;
  const root = findRoot();
  if (await ensureWebBundle(root)) console.log(`mitoscan serve: built ${join(root, 'dist/web/main.js')}`);
  const srv = await startServer({ port, host, root, build: false, log: (l) => console.error(`mitoscan serve: ${l}`) });
  const hasModel = existsSync(join(root, DEFAULT_MODEL_FILE));
  console.log(`mitoscan serve: the detection page is at ${srv.url}/  (Ctrl+C stops the server)`);
  if (!hasModel) console.log(`mitoscan serve: no built-in model (${join(root, DEFAULT_MODEL_FILE)} is missing): open a model file in the page`);
  if (!/^(127\.|localhost$|::1$|\[::1\]$)/.test(host)) {
    console.log(`mitoscan serve: note: browsers give WebGPU only to https pages and to http://localhost; from other computers use https (e.g. a reverse proxy)`);
  }
  if (args.flags.has('open')) openBrowser(`${srv.url}/`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      console.log('\nmitoscan serve: stopping');
      void srv.close().then(done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
