// The in-memory forms of the three model formats that Centroid reads and writes, and
// the union that format-agnostic code takes.
import type { KerasModelConfig, KerasModelFile, TrainingConfig, WeightEntry } from './keras-h5/types.js';

/** A model file format: Keras HDF5 (`.h5`), Keras 3 archive (`.keras`) or TF.js layers model. */
export type ModelFormat = 'keras_h5' | 'keras' | 'tfjs';

/** A Keras 3 model saved as a `.keras` archive: `config.json`, `metadata.json` and `model.weights.h5` in a zip. */
export interface KerasArchiveFile {
  format: 'keras';
  /** Path of the archive on local disk. */
  path: string;
  /** Name that the client gave the file; error messages use it. */
  filename: string;
  /** `keras_version` of `metadata.json`, or null when it has none. */
  kerasVersion: string | null;
  /** Always null: a `.keras` archive does not record the backend. */
  backend: null;
  /** The whole `config.json`: the model's serialized config with `build_config` and `compile_config`. */
  modelConfig: KerasModelConfig;
  /** Built from `compile_config`, in the form of a `.h5` file's `training_config`; null when the model was saved uncompiled. */
  trainingConfig: TrainingConfig | null;
  /** Every layer weight, grouped by owning layer in `model.layers` order, each layer's weights in TF.js order. */
  weights: WeightEntry[];
  /** Whether `model.weights.h5` contains optimizer variables. */
  hasOptimizerState: boolean;
}

/** One group of a TF.js weights manifest: the shard files that together hold its weights. */
export interface TfjsWeightGroup {
  /** Shard file names, relative to `model.json`, in the order their bytes are concatenated. */
  paths: string[];
  weights: TfjsWeightSpec[];
}

/** A weight of a TF.js weights manifest and where its bytes lie. */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  /** `float32`, or `float16` for a weight stored with float16 quantization. */
  dtype: 'float32' | 'float16';
  /**
   * Affine uint8 or uint16 quantization, as `tensorflowjs_converter --quantize_uint8`
   * writes it: each stored integer q stands for `q * scale + min`. Absent for float weights.
   */
  affine?: AffineQuantization;
  /** Byte offset of the weight in the concatenated shards of its group. */
  byteOffset: number;
  byteLength: number;
}

/** Parameters of TF.js affine quantization. */
export interface AffineQuantization {
  dtype: 'uint8' | 'uint16';
  scale: number;
  min: number;
}

/** A TF.js layers model: `model.json` and its binary weight shards, in a folder or a zip archive. */
export interface TfjsModelFile {
  format: 'tfjs';
  /** The folder that contains `model.json` and the shards, or the zip archive. */
  path: string;
  filename: string;
  container: 'folder' | 'zip';
  /** Path of `model.json` relative to the folder, or its member name in the zip. */
  modelJsonPath: string;
  /** The parsed `model.json`. */
  modelJson: Record<string, unknown>;
  /** `keras_version` of the topology, such as `tfjs-layers 4.22.0`, or null. */
  kerasVersion: string | null;
  backend: string | null;
  /** The `modelTopology` of `model.json`, unwrapped from `model_config` when the converter wrapped it. */
  modelConfig: KerasModelConfig;
  trainingConfig: TrainingConfig | null;
  /** Every weight, in manifest order; `datasetPath` is the manifest name. */
  weights: WeightEntry[];
  /** Always false: TF.js layers models carry no optimizer state here. */
  hasOptimizerState: false;
  weightGroups: TfjsWeightGroup[];
}

/** A model file in any format that Centroid reads. */
export type ModelFile = KerasModelFile | KerasArchiveFile | TfjsModelFile;
