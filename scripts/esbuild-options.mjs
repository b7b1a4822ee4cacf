// Shared esbuild settings: WGSL is imported as text, Node-only packages stay external.
export const wgslText = { '.wgsl': 'text' };

export function nodeBundle(entryPoints, outfile) {
  return {
    entryPoints,
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    loader: wgslText,
    external: ['webgpu', 'playwright-core', 'esbuild'],
    sourcemap: 'inline',
    logLevel: 'warning',
    // Bundled CommonJS packages (utif, upng-js) call require(); give the ESM bundle one.
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  };
}

/** The browser library and the web page: plain ES modules, WGSL inlined. */
export function browserBundle(entryPoints, outfile) {
  return {
    entryPoints,
    outfile,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    loader: wgslText,
    logLevel: 'warning',
  };
}
