// A GRU for TF.js 4.22 that also computes Keras' `reset_after=True` variant, the Keras
// default and the CuDNN-compatible form. TF.js' own GRUCell raises on reset_after=True.
// The class is registered as "GRU", so model configs keep their Keras class name and a
// model.json written from them loads in TF.js (with this module imported) and in Keras.
import * as tf from '@tensorflow/tfjs';

type GRUCellInstance = ReturnType<typeof tf.layers.gruCell>;
type GRUInstance = ReturnType<typeof tf.layers.gru>;
type LayerKwargs = Record<string, unknown>;

/** Arguments of both GRU variants, as TF.js converts them from a Keras config. */
interface KerasGRUCellArgs extends tf.GRUCellLayerArgs {
  resetAfter?: boolean;
}
interface KerasGRUArgs extends tf.GRULayerArgs {
  resetAfter?: boolean;
}

/** Marks the class registered here, so that a second registration finds TF.js' own GRU under it. */
const STOCK_GRU = Symbol('centroid.stockGRU');

/**
 * Returns TF.js' own GRU or GRUCell class from the serialization registry, looking
 * through a GRU registered by this module.
 */
function stockClass(className: 'GRU' | 'GRUCell'): unknown {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (entry === undefined) {
    throw new Error(`TF.js ${tf.version.tfjs} registers no ${className} class.`);
  }
  const registered = entry[0] as unknown as { [STOCK_GRU]?: unknown };
  return registered[STOCK_GRU] ?? registered;
}

const StockGRUCell = stockClass('GRUCell') as new (args: tf.GRUCellLayerArgs) => GRUCellInstance;
const StockGRU = stockClass('GRU') as (new (args: KerasGRUArgs) => GRUInstance) & { className: string };

/**
 * The GRU cell of Keras with reset_after=True. The bias has shape [2, 3 * units]: row 0
 * is added to x·W and row 1 to h·U, and the reset gate multiplies (h·U)_h + b_h after the
 * matrix product. Gate order in the kernels is z, r, h, as in Keras. Only tf ops are used,
 * so gradients flow to every weight.
 */
export class ResetAfterGRUCell extends StockGRUCell {
  constructor(args: KerasGRUCellArgs) {
    // Keras' GRU defaults to sigmoid and TF.js' to hardSigmoid. Keras configs always name it.
    super({ ...args, resetAfter: false, recurrentActivation: args.recurrentActivation ?? 'sigmoid' });
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const inputDim = shape[shape.length - 1] as number;
    const gates = 3 * this.units;
    this.kernel = this.addWeight('kernel', [inputDim, gates], undefined, this.kernelInitializer, this.kernelRegularizer, true, this.kernelConstraint);
    this.recurrentKernel = this.addWeight(
      'recurrent_kernel',
      [this.units, gates],
      undefined,
      this.recurrentInitializer,
      this.recurrentRegularizer,
      true,
      this.recurrentConstraint,
    );
    if (this.useBias) {
      this.bias = this.addWeight('bias', [2, gates], undefined, this.biasInitializer, this.biasRegularizer, true, this.biasConstraint);
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: LayerKwargs): tf.Tensor[] {
    return tf.tidy(() => {
      if (!Array.isArray(inputs) || inputs.length !== 2) {
        throw new Error(`GRUCell ${this.name} expects 2 input tensors (inputs, state), got ${Array.isArray(inputs) ? inputs.length : 1}.`);
      }
      const [x, previous] = inputs as [tf.Tensor2D, tf.Tensor2D];
      const training = kwargs.training === true;
      const droppedX = training ? this.applyDropout(x, this.dropout, 'dropoutMask') : x;
      const droppedPrevious = training ? this.applyDropout(previous, this.recurrentDropout, 'recurrentDropoutMask') : previous;

      let fromInput: tf.Tensor2D = tf.matMul(droppedX, this.kernel.read() as tf.Tensor2D);
      let fromState: tf.Tensor2D = tf.matMul(droppedPrevious, this.recurrentKernel.read() as tf.Tensor2D);
      if (this.useBias) {
        const [inputBias, recurrentBias] = tf.unstack(this.bias.read()) as [tf.Tensor1D, tf.Tensor1D];
        fromInput = tf.add(fromInput, inputBias);
        fromState = tf.add(fromState, recurrentBias);
      }

      const [inputZ, inputR, inputH] = tf.split(fromInput, 3, -1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const [stateZ, stateR, stateH] = tf.split(fromState, 3, -1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const update = this.recurrentActivation.apply(tf.add(inputZ, stateZ));
      const reset = this.recurrentActivation.apply(tf.add(inputR, stateR));
      const candidate = this.activation.apply(tf.add(inputH, tf.mul(reset, stateH)));

      const next = tf.add(tf.mul(update, previous), tf.mul(tf.sub(1, update), candidate));
      return [next, next];
    });
  }

  /**
   * Multiplies `value` by a dropout mask that is drawn once per GRU call and kept for
   * every time step, as Keras does. The GRU layer disposes the masks before each call.
   */
  private applyDropout(value: tf.Tensor2D, rate: number, field: 'dropoutMask' | 'recurrentDropoutMask'): tf.Tensor2D {
    if (!(rate > 0 && rate < 1)) {
      return value;
    }
    const cell = this as unknown as Record<typeof field, tf.Tensor | null>;
    if (cell[field] == null) {
      cell[field] = tf.keep(tf.dropout(tf.onesLike(value), rate));
    }
    return tf.mul(value, cell[field] as tf.Tensor2D);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), resetAfter: true };
  }
}

/**
 * TF.js' GRU, which builds a ResetAfterGRUCell when the config sets reset_after=True
 * and TF.js' own GRUCell otherwise. Bidirectional copies its layer through getConfig and
 * the registry, so the backward copy is built by this class as well.
 */
export class KerasGRU extends StockGRU {
  static override className = 'GRU';
  static readonly [STOCK_GRU] = StockGRU;

  constructor(args: KerasGRUArgs) {
    // TF.js' GRU constructor builds its own cell and raises on resetAfter=true, so it
    // gets resetAfter=false, and the cell is swapped before the layer is built.
    super({ ...args, resetAfter: false });
    if (args.resetAfter === true) {
      // `cell` is readonly in TF.js' typings only, and RNN reads it from build onwards.
      (this as { cell: GRUInstance['cell'] }).cell = new ResetAfterGRUCell(args);
    }
  }
}

let registered = false;

/** Registers KerasGRU as TF.js' "GRU" class; later calls do nothing. */
export function registerResetAfterGRU(): void {
  if (!registered) {
    // TF.js' typings omit the static fromConfig that KerasGRU inherits from TF.js' GRU.
    tf.serialization.registerClass(KerasGRU as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
    registered = true;
  }
}
