// The in-memory form of a Keras HDF5 model file (`model.save("model.h5")`), as read
// by `readKerasH5` and written back by `writeKerasH5`.

/** Storage type of a weight dataset. */
export type WeightDtype = 'float16' | 'float32' | 'float64';

/** The parsed `model_config` root attribute: a Keras layer or model config. */
export interface KerasModelConfig {
  /** Model class, such as `Sequential`, `Functional` or `Model`. */
  class_name: string;
  config: unknown;
  [key: string]: unknown;
}

/** The parsed `training_config` root attribute, which Keras writes when the model was compiled. */
export interface TrainingConfig {
  /** Loss name or serialized loss, as `model.compile(loss=...)` received it. */
  loss: unknown;
  metrics?: unknown;
  weighted_metrics?: unknown;
  loss_weights?: unknown;
  /** Serialized optimizer, such as `{ class_name: "Custom>Adam", config: { learning_rate: 0.001 } }`. */
  optimizer_config?: { class_name: string; config: Record<string, unknown> } | null;
  [key: string]: unknown;
}

/** One weight tensor of the model. */
export interface WeightEntry {
  /** Layer name, as listed in the `layer_names` attribute of `model_weights`. */
  layer: string;
  /** Weight name as stored in the layer's `weight_names` attribute, such as `conv2d/kernel:0`. */
  name: string;
  /**
   * Location of the tensor in its file, unique within the model: the absolute HDF5 dataset
   * path (`/model_weights/conv2d/conv2d/kernel:0` in a `.h5` file, `/layers/conv2d/vars/0`
   * in the `model.weights.h5` of a `.keras` archive), or the weight name of a TF.js
   * weights manifest. Writers take replacements keyed by it.
   */
  datasetPath: string;
  /**
   * Layer names from the outermost model down to the TF.js layer that owns this weight,
   * such as `['encoder', 'dense_1']` for a layer of a nested model. Absent, the weight
   * belongs to the top-level layer named by `layer`.
   */
  layerPath?: string[];
  /** Dimensions; `[]` for a scalar. */
  shape: number[];
  /** Storage type in the file. */
  dtype: WeightDtype;
  /** The values as float32, converted from float16 or float64 where the file stores those. */
  values: Float32Array;
}

/** A Keras 2 (tf.keras, tf_keras) or Keras 3 model saved in the HDF5 format. */
export interface KerasModelFile {
  format: 'keras_h5';
  /** Path of the file on local disk. */
  path: string;
  /** Name that the client gave the file; error messages use it. */
  filename: string;
  /** The `keras_version` root attribute, or null when the file has none. */
  kerasVersion: string | null;
  /** The `backend` root attribute, or null when the file has none. */
  backend: string | null;
  modelConfig: KerasModelConfig;
  /** Null when the model was saved uncompiled. */
  trainingConfig: TrainingConfig | null;
  /**
   * Every weight tensor, in file order: layers in `layer_names` order, and each layer's
   * weights in `weight_names` order. Weights of the `top_level_model_weights` group, if
   * any, come last.
   */
  weights: WeightEntry[];
  /** Whether the file has an `optimizer_weights` group. */
  hasOptimizerState: boolean;
}
