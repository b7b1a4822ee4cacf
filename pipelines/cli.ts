// `mitoscan <command> [args...]`: routes to pipelines/<command>.ts, whose `run(argv)` does the work.
// Errors print one line naming the problem and exit 1 (2 for usage errors); MITOSCAN_DEBUG=1 adds
// the stack.
import { UsageError } from './args.js';

interface Command {
  summary: string;
  load: () => Promise<{ run: (argv: string[]) => Promise<void> }>;
}

// One line per command; each module exports `run(argv: string[]): Promise<void>`.
const COMMANDS: Record<string, Command> = {
  detect: { summary: 'find mitoses in images (CSV, JSON, GeoJSON for QuPath, overlay and heatmap PNGs)', load: () => import('./detect.js') },
  demo: { summary: 'run and score the detector on a procedural H&E field with known mitoses (no data needed)', load: () => import('./demo.js') },
  info: { summary: 'describe a model file (architecture, window, µm per pixel, parameters, provenance)', load: () => import('./info.js') },
  train: { summary: 'train a mitosis net (two-stage hard negatives, checkpoints, --resume)', load: () => import('./train.js') },
  eval: { summary: 'score the detector on a labelled data set (precision, recall, F1, plots, gallery)', load: () => import('./eval.js') },
  crossval: { summary: 'patient k-fold cross-validation or the paper\'s T1/T2/T3 protocol: train and score held-out images', load: () => import('./crossval.js') },
  'train-patches': { summary: 'train and cross-validate a net on mitosis/ non-mitosis/ patch folders (held-out patient AUC)', load: () => import('./patches.js') },
  merge: { summary: 'combine the journals of `detect <slide> --shard k/n` runs into the outputs of one run', load: () => import('./merge.js') },
  serve: { summary: 'the detection web page on http://127.0.0.1:8080 (runs on your GPU in the browser)', load: () => import('./serve.js') },
};

function usage(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length), 4);
  return [
    'usage: mitoscan <command> [options]   (mitoscan <command> --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(w)}  ${c.summary}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  if (name === '--version') {
    console.log('mitoscan 0.1.0');
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`mitoscan: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    await (await cmd.load()).run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`mitoscan ${name}: ${e.message}\n(mitoscan ${name} --help lists the options)`);
      return 2;
    }
    console.error(`mitoscan ${name}: ${e instanceof Error ? e.message : String(e)}`);
    if (process.env.MITOSCAN_DEBUG && e instanceof Error && e.stack) console.error(e.stack);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
