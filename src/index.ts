// mitoscan as a library, the same in browsers and in Node: open an engine, load a model, give it
// RGBA pixels, get mitoses back.
//
//   const e = await createBrowserEngine();              // Node: createNodeEngine() from 'mitoscan/node'
//   const model = decodeModel(bytes, 'my.mitoscan');
//   const { detections, map } = await detectMitoses(e, [model], { width, height, data }, { keepMap: true });
//   e.destroy();
//
// Training too (src/train/flow.ts): trainOnImages(e, images, settings, job, hooks) gives a Model
// with its provenance; checkpoints go through job.checkpoint ({ load, save, name }).
export { createBrowserEngine } from '../engine/browser.js';
export { Engine, type Tensor } from '../engine/engine.js';
export { NoAdapterError } from '../engine/gpu.js';
export { detectMitoses, detectMitosesMany, PRESETS, probabilityMap, SmoothedMap, smoothingRadiusPx, type DetectManyOptions, type DetectOptions, type DetectResult, type Preset } from './detect/detector.js';
export { badRecordedThreshold, DEFAULT_THRESHOLD, isValidThreshold, modelThreshold, recordedThreshold } from './detect/threshold.js';
export { COLOURS, detectionsCsv, detectionsGeoJson, detectionsJson, heatmap, overlay, type Detection } from './detect/results.js';
export { cropImage, decodeImage, decodeImagePages, encodeBmp, encodePng, encodeTiff, ImageFormatError, rescaleToMpp, resizeTo, sniffFormat } from './io/image.js';
export { denseMap, type ProbabilityMap, type RgbaImage } from './model/dense.js';
export { decodeModel, encodeModel, initModel, ModelFileError, type Model } from './model/model-file.js';
export { compact20x, DNN1, DNN2, wide20x, describeSpec, layerShapes, type NetSpec } from './model/spec.js';
export { Network } from './model/network.js';
export { aucRoc, bestThreshold, matchDetections, mitoticGrade, sweepThresholds } from './eval/score.js';
export { generateField, type SynthField } from './synth/tissue.js';
export {
  buildProvenance, CANDIDATE_THRESHOLD, chooseThreshold, detectCandidates, trainOnImages, type CheckpointStore, type ChosenThreshold, type ScoredImage, type Trained, type TrainFlowHooks, type TrainFlowJob,
  type TrainFlowSettings, type TrainPhase,
} from './train/flow.js';
export { DEFAULT_TRAIN_OPTIONS, trainOptions, TrainingStopped, type BatchProgress, type EpochRecord, type TrainOptions } from './train/trainer.js';
export type { TrainingImage } from './train/training-set.js';
export { blobSource, bytesSource, type ByteSource } from './slide/source.js';
export { openSlide, SlideFormatError, type Resolution, type Slide, type SlideLevel } from './slide/slide.js';
export { areaWindow, densityGrid, findHotspot, hpfWindow, mitoticScore, renderDensity, slideGeoJson, type Hotspot } from './slide/hotspot.js';
export { slideTissueMask } from './slide/tissue.js';
export { detectSlide, planSlide, slideDetections, suppressKept, type DetectSlideOptions, type SlideDetections, type SlidePlan, type TileJournal } from './slide/detect-slide.js';
