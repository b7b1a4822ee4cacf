// `mitoscan info [model...]`: what a model file holds: the net's architecture (layer by layer, as
// Table 1 of Cireşan et al. 2013), its input window, the resolution it applies at, its input
// normalisation, its parameter count and how it was made (provenance). Without a file: the
// embedded default model. Reading a file checks it whole (size, checksum, spec).
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Model } from '../src/model/model-file.js';
import { describeSpec, layerShapes, paramCount, windowSize } from '../src/model/spec.js';
import { badRecordedThreshold, modelThreshold, recordedThreshold } from '../src/detect/threshold.js';
import { defaultModelPath } from '../src/node/default-model.js';
import { loadModel } from '../src/node/model-io.js';
import { checkFlags, parseArgs, UsageError } from './args.js';
import { checkRegularFile } from '../src/node/files.js';
import { table } from './table.js';

const USAGE = `usage: mitoscan info [model.mitoscan...] [--json]

Prints what a model file holds: architecture, input window, µm per pixel, normalisation,
parameter count and provenance (how it was trained). Without a file: the embedded default model.

options:
  --json   one JSON object per model instead of text`;

const FLAGS = ['json', 'help'];

function layerRow(s: ReturnType<typeof layerShapes>[number]): string[] {
  const l = s.layer;
  const kind = l.type === 'conv' ? `C ${l.k}x${l.k}` : l.type === 'maxpool' ? `MP ${l.k}x${l.k}` : 'FC';
  const out = l.type === 'fc' ? `${s.maps}` : `${s.maps} x ${s.size}x${s.size}`;
  return [`${s.index}`, kind, out, s.weights ? s.weights.toLocaleString('en-US') : ''];
}

/** Text from a file on one line: control characters (newlines too) escaped, cut to 200 characters. */
function oneLine(s: string): string {
  const esc = s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => (c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return esc.length > 200 ? `${esc.slice(0, 200)}...` : esc;
}

function value(v: unknown): string {
  if (v === null || typeof v !== 'object') return String(v);
  return JSON.stringify(v);
}

/** The text `mitoscan info` prints for one model. */
export function describeModel(model: Model, path: string, bytes?: number): string {
  const spec = model.spec;
  const S = windowSize(spec);
  const n = model.normalisation;
  const lines = [
    `model: ${path}${bytes !== undefined ? ` (${bytes.toLocaleString('en-US')} bytes, checksum ok)` : ''}`,
    `net: ${describeSpec(spec)}`,
    `window: ${S}x${S} px (${(S * model.umPerPixel).toFixed(1)} µm), ${spec.input.channels} channels`,
    `µm per pixel: ${model.umPerPixel} (images at another resolution are resampled to it)`,
    `activation: ${spec.activation}`,
    `normalisation: x = (rgb * ${Math.abs(n.scale * 255 - 1) < 1e-12 ? '1/255' : n.scale} - mean) / std, mean [${n.mean.join(', ')}], std [${n.std.join(', ')}]`,
    `parameters: ${paramCount(spec).toLocaleString('en-US')}`,
    'layers:',
    table([['#', 'layer', 'maps x size', 'weights'], [`0`, 'I', `${spec.input.channels} x ${S}x${S}`, ''], ...layerShapes(spec).map(layerRow)])
      .split('\n')
      .map((l) => '  ' + l)
      .join('\n'),
    'provenance:',
  ];
  const p: unknown = model.provenance;
  // a provenance that is not an object (a string, a number, a list) is printed as one value, on one line
  const prov = p !== null && typeof p === 'object' && !Array.isArray(p) ? Object.entries(p) : undefined;
  if (p === undefined || p === null || (prov && !prov.length)) lines.push('  (none recorded)');
  else if (!prov) lines.push(`  ${oneLine(value(p))}`);
  else for (const [k, v] of prov) lines.push(`  ${oneLine(k)}: ${oneLine(value(v))}`);
  // what detect will do with it: the recorded threshold, or why it cannot be used
  const bad = badRecordedThreshold(model);
  lines.push(bad ? `threshold: unusable (${bad}): detect refuses this file as corrupt` : `threshold: ${modelThreshold(model)}${recordedThreshold(model) === undefined ? ' (none recorded: the paper\'s default)' : ' (recorded in training)'}`);
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<void> {
  const args = parseArgs(argv, ['help', 'json']);
  if (args.flags.has('help')) {
    console.log(USAGE);
    return;
  }
  checkFlags(args, FLAGS);
  const paths = args.positionals.length ? args.positionals : [defaultModelPath()];
  const out: string[] = [];
  for (const p of paths) {
    if (!p.trim()) throw new UsageError('no model file given: the path is empty');
    await checkRegularFile(p, 'model file'); // a FIFO or /dev/zero would be read for ever
    const model = await loadModel(p);
    const bytes = (await stat(p)).size;
    if (args.flags.has('json')) {
      out.push(
        JSON.stringify(
          {
            path: resolve(p),
            bytes,
            name: model.spec.name,
            window: windowSize(model.spec),
            umPerPixel: model.umPerPixel,
            activation: model.spec.activation,
            normalisation: model.normalisation,
            paramCount: paramCount(model.spec),
            spec: model.spec,
            provenance: model.provenance,
          },
          null,
          2,
        ),
      );
    } else out.push(describeModel(model, resolve(p), bytes));
  }
  console.log(out.join('\n\n'));
}
