// Checks the layer graph of functional model configs before TF.js builds them. TF.js 4.22
// (Container.fromConfig) repeats its pass over the layers until every node's inbound layer
// node exists, so a config whose node names a missing layer, a node that is never created,
// or a cycle makes it loop forever. This check runs the same passes on the config alone.
import { CentroidError } from '@centroid/contracts';

interface PendingNode {
  layer: string;
  /** The inbound tensors of the node, as [layer name, node index, tensor index, kwargs]. */
  inputs: unknown[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Number of nodes a layer has once constructed: an input layer or a nested model has one, other layers none. */
function initialNodeCount(layer: Record<string, unknown>): number {
  return ['InputLayer', 'Functional', 'Model', 'Sequential'].includes(String(layer.class_name)) ? 1 : 0;
}

function describeMissing(reference: unknown[], nodeCounts: Map<string, number>): string {
  const [name, nodeIndex] = reference;
  const count = nodeCounts.get(String(name));
  if (typeof name !== 'string' || count === undefined) {
    return `layer ${JSON.stringify(name)}, which the model config does not contain`;
  }
  return `node ${JSON.stringify(nodeIndex)} of layer "${name}", which the config never creates (the layer gets ${count} nodes)`;
}

/** Runs the passes of Container.fromConfig on one functional config and raises for a node that never resolves. */
function checkFunctionalConfig(config: Record<string, unknown>, layers: unknown[], filename: string): void {
  const nodeCounts = new Map<string, number>();
  let pending: PendingNode[] = [];

  const modelName = typeof config.name === 'string' ? ` of model "${config.name}"` : '';
  const invalid = (layer: string | undefined, problem: string) =>
    new CentroidError('MODEL_INVALID', `${filename}: ${problem}`, layer === undefined ? { file: filename } : { file: filename, layer });

  for (const [index, layer] of layers.entries()) {
    if (!isRecord(layer)) {
      continue;
    }
    // TF.js finds inbound layers by the entry's name and queues nodes by the layer's own
    // name, so a missing, repeated or differing name also leaves nodes that never resolve.
    const name = layer.name;
    const ownName = isRecord(layer.config) ? layer.config.name : undefined;
    if (typeof name !== 'string') {
      throw invalid(undefined, `layer ${index}${modelName} has the name ${JSON.stringify(name)}; expected a string.`);
    }
    if (ownName !== undefined && ownName !== name) {
      throw invalid(name, `layer "${name}"${modelName} has the name ${JSON.stringify(ownName)} in its config; expected the same name.`);
    }
    if (nodeCounts.has(name)) {
      throw invalid(name, `the model config${modelName} has more than one layer named "${name}"; expected unique names.`);
    }
    nodeCounts.set(name, initialNodeCount(layer));
    const inboundNodes = Array.isArray(layer.inbound_nodes) ? layer.inbound_nodes : [];
    for (const node of inboundNodes) {
      if (Array.isArray(node)) {
        pending.push({ layer: name, inputs: node });
      }
    }
  }

  const resolves = (input: unknown): boolean => {
    if (!Array.isArray(input)) {
      return false;
    }
    const count = nodeCounts.get(String(input[0]));
    return count !== undefined && typeof input[1] === 'number' && input[1] < count;
  };

  while (pending.length > 0) {
    const waiting: PendingNode[] = [];
    for (const node of pending) {
      if (!node.inputs.every(resolves)) {
        waiting.push(node);
      } else if (node.inputs.length > 0) {
        nodeCounts.set(node.layer, (nodeCounts.get(node.layer) ?? 0) + 1);
      }
    }
    if (waiting.length === pending.length) {
      const stuck = waiting[0] as PendingNode;
      const reference = stuck.inputs.find((input) => !resolves(input));
      const referenceText = Array.isArray(reference) ? describeMissing(reference, nodeCounts) : `the malformed entry ${JSON.stringify(reference)}`;
      throw invalid(
        stuck.layer,
        `layer "${stuck.layer}"${modelName} takes its input from ${referenceText}; ` +
          'expected every inbound node in the model config to name a layer node that the config creates.',
      );
    }
    pending = waiting;
  }
}

/**
 * Raises MODEL_INVALID, naming the layer, when a functional model in `topology` (a Keras
 * model config in the layout TF.js reads), or one nested in it, has an inbound node that
 * TF.js could never connect.
 */
export function checkLayerGraph(topology: unknown, filename: string): void {
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    if (!isRecord(value)) {
      return;
    }
    if (Array.isArray(value.layers) && Array.isArray(value.input_layers)) {
      checkFunctionalConfig(value, value.layers, filename);
    }
    Object.values(value).forEach(visit);
  };
  visit(topology);
}
