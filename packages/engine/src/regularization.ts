// Regularization penalties of a model's layers, which Keras adds to the training and
// evaluation loss.
import * as tf from '@tensorflow/tfjs';

/**
 * Returns every layer's regularization penalty as scalar tensors, looking inside nested
 * models. TF.js's own `model.calculateLosses()` returns nothing for a Sequential model
 * (seen with tfjs-layers 4.22), so the layers are asked one by one.
 */
export function regularizationTerms(model: tf.LayersModel): tf.Scalar[] {
  const terms: tf.Scalar[] = [];
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) terms.push(...regularizationTerms(layer));
    else terms.push(...layer.calculateLosses());
  }
  return terms;
}
