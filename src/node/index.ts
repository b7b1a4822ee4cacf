// mitoscan in Node: the whole library plus Dawn, files and the embedded default model.
//
//   const e = await createNodeEngine();
//   const image = await readImageFile('frame.bmp');
//   const { detections } = await detectMitoses(e, [await loadDefaultModel()], image);
//   e.destroy();                                         // Dawn keeps Node alive until then
export * from '../index.js';
export { createNodeEngine } from '../../engine/node.js';
export { loadModel, saveModel } from './model-io.js';
export { checkOutputDir, checkOutputFile, readImageFile, readRegularFile, writeFileAtomic } from './files.js';
export { defaultModelPath, demoModelPath, loadDefaultModel, loadDemoModel } from './default-model.js';
export { loadDataset } from './datasets.js';
export { openFileSource } from './slide-file.js';
