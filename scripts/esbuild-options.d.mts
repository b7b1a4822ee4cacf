// Types of scripts/esbuild-options.mjs for the TypeScript that imports it (tests).
import type { BuildOptions } from 'esbuild';

export declare const wgslText: Record<string, 'text'>;
export declare function nodeBundle(entryPoints: string[], outfile: string): BuildOptions;
export declare function browserBundle(entryPoints: string[], outfile: string): BuildOptions;
