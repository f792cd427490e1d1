import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CentroidError,
  JobParamsSchema,
  ParamsError,
  decideLayers,
  decideWeight,
  findUnmatchedRules,
  matchesPattern,
  parseOrThrow,
  type LayerDescription,
} from '../src/index.js';

function rejectsParams(layers: unknown, field: string, message: RegExp): void {
  assert.throws(
    () => parseOrThrow(JobParamsSchema, { number_of_clusters: 8, layers }),
    (error: unknown) => {
      assert.ok(error instanceof ParamsError, String(error));
      assert.equal(error.location.field, field);
      assert.match(error.message, message);
      return true;
    },
  );
}

function layer(name: string, className: string, weights: [string, number[]][], extra: Partial<LayerDescription> = {}): LayerDescription {
  return {
    name,
    className,
    wrapped: null,
    enclosingModels: [],
    weights: weights.map(([weightName, shape]) => ({ name: weightName, shape, dtype: 'float32' })),
    ...extra,
  };
}

const MODEL: LayerDescription[] = [
  layer('conv', 'Conv2D', [['kernel', [3, 3, 1, 8]], ['bias', [8]]]),
  layer('bn', 'BatchNormalization', [['gamma', [8]], ['beta', [8]], ['moving_mean', [8]], ['moving_variance', [8]]]),
  layer('flatten', 'Flatten', []),
  layer('td', 'TimeDistributed', [['kernel', [8, 4]], ['bias', [4]]], { wrapped: { name: 'td_dense', className: 'Dense' } }),
  layer('head_dense', 'Dense', [['kernel', [4, 4]], ['bias', [4]]], { enclosingModels: [{ name: 'head', className: 'Sequential' }] }),
];

function decide(input: Record<string, unknown>) {
  return decideLayers(MODEL, JobParamsSchema.parse({ number_of_clusters: 8, ...input }));
}

describe('layers parameter', () => {
  it('is absent by default', () => {
    const params = parseOrThrow(JobParamsSchema, { number_of_clusters: 8 });
    assert.equal(params.layers, undefined);
    assert.equal(params.cluster_depthwise, false);
    assert.equal(params.cluster_biases, false);
  });

  it('accepts each match kind', () => {
    const params = parseOrThrow(JobParamsSchema, {
      number_of_clusters: 8,
      layers: [
        { match: { name: 'conv1' }, number_of_clusters: 16, cluster_centroids_init: 'KMEANS', preserve_sparsity: true },
        { match: { pattern: 'block1_*' }, action: 'exclude' },
        { match: { class: 'DepthwiseConv2D' }, cluster_depthwise: true, cluster_biases: true, cluster_per_channel: true },
        { match: { class: 'Dense' }, gradient_aggregation: 'AVG' },
      ],
    });
    assert.equal(params.layers?.[3]?.gradient_aggregation, 'avg');
    assert.equal(params.layers?.[0]?.action, 'include');
    assert.equal(params.layers?.[0]?.cluster_centroids_init, 'kmeans');
    assert.equal(params.layers?.[1]?.action, 'exclude');
    assert.equal(params.layers?.[2]?.cluster_depthwise, true);
  });

  it('rejects a match with two kinds', () => {
    rejectsParams([{ match: { name: 'a', class: 'Dense' } }], 'layers.0.match', /expected exactly one of name, pattern or class/);
  });

  it('rejects an empty match', () => {
    rejectsParams([{ match: {} }], 'layers.0.match', /expected exactly one of name, pattern or class/);
  });

  it('rejects an unknown rule field', () => {
    rejectsParams([{ match: { name: 'a' }, clusters: 4 }], 'layers.0.clusters', /unknown field/);
    rejectsParams([{ match: { regex: 'a.*' } }], 'layers.0.match.regex', /unknown field/);
  });

  it('rejects settings on an exclude rule', () => {
    rejectsParams([{ match: { name: 'a' }, action: 'exclude', number_of_clusters: 4 }], 'layers.0.number_of_clusters', /an exclude rule clusters nothing/);
  });

  it('rejects including normalization by class', () => {
    rejectsParams([{ match: { class: 'BatchNormalization' } }], 'layers.0.match.class', /never clustered/);
    rejectsParams([{ match: { class: 'LayerNormalization' } }], 'layers.0.match.class', /never clustered/);
  });

  it('rejects a per-layer number_of_clusters out of range', () => {
    rejectsParams([{ match: { name: 'a' }, number_of_clusters: 1 }], 'layers.0.number_of_clusters', /./);
  });

  it('rejects an unknown action', () => {
    rejectsParams([{ match: { name: 'a' }, action: 'skip' }], 'layers.0.action', /./);
  });

  it('rejects a match over 256 characters', () => {
    rejectsParams([{ match: { pattern: '*'.repeat(257) } }], 'layers.0.match.pattern', /256/);
    rejectsParams([{ match: { name: 'a'.repeat(257) } }], 'layers.0.match.name', /256/);
    rejectsParams([{ match: { class: 'D'.repeat(257) } }], 'layers.0.match.class', /256/);
  });

  it('rejects more than 512 rules', () => {
    const rule = { match: { pattern: 'x*' }, action: 'exclude' };
    assert.equal(parseOrThrow(JobParamsSchema, { number_of_clusters: 8, layers: Array(512).fill(rule) }).layers?.length, 512);
    rejectsParams(Array(513).fill(rule), 'layers', /512/);
  });
});

describe('glob patterns', () => {
  const cases: [string, string, boolean][] = [
    ['block1_*', 'block1_conv', true],
    ['block1_*', 'block1_', true],
    ['block1_*', 'block10_conv', false],
    ['*_conv', 'block1_conv', true],
    ['conv?', 'conv2', true],
    ['conv?', 'conv', false],
    ['conv?', 'conv22', false],
    ['*a*b', 'xaxxb', true],
    ['*a*b', 'xaxxbc', false],
    ['dense', 'dense_1', false],
    ['*', '', true],
    ['a.b', 'axb', false],
  ];
  for (const [pattern, text, expected] of cases) {
    it(`${pattern} against ${JSON.stringify(text)}`, () => {
      assert.equal(matchesPattern(pattern, text), expected);
    });
  }

  it('many stars against a long name', () => {
    // A backtracking regular expression would take hours on this input.
    assert.equal(matchesPattern(`${'*a'.repeat(50)}b`, 'a'.repeat(5000)), false);
    assert.equal(matchesPattern(`${'*a'.repeat(50)}b`, `${'a'.repeat(5000)}b`), true);
  });
});

describe('weight rules', () => {
  const defaults = { numberOfClusters: 4, clusterDepthwise: false, clusterBiases: false };

  it('never clusters normalization weights', () => {
    const decided = decideWeight('BatchNormalization', { name: 'gamma', shape: [64], dtype: 'float32' }, { ...defaults, clusterBiases: true });
    assert.equal(decided.clusterable, false);
  });

  it('clusters depthwise kernels only when opted in', () => {
    for (const className of ['DepthwiseConv2D', 'SeparableConv1D', 'SeparableConv2D']) {
      const weight = { name: 'depthwise_kernel', shape: [3, 3, 8, 1], dtype: 'float32' };
      assert.equal(decideWeight(className, weight, defaults).clusterable, false, className);
      assert.equal(decideWeight(className, weight, { ...defaults, clusterDepthwise: true }).clusterable, true, className);
    }
  });

  it('clusters biases only when opted in', () => {
    const weight = { name: 'bias', shape: [16], dtype: 'float32' };
    assert.equal(decideWeight('Dense', weight, defaults).clusterable, false);
    assert.equal(decideWeight('Dense', weight, { ...defaults, clusterBiases: true }).clusterable, true);
    assert.equal(decideWeight('ScaleLayer', weight, { ...defaults, clusterBiases: true }).clusterable, false, 'unknown class');
    assert.equal(decideWeight('DepthwiseConv2D', weight, { ...defaults, clusterBiases: true }).clusterable, false);
    assert.equal(decideWeight('DepthwiseConv2D', weight, { numberOfClusters: 4, clusterBiases: true, clusterDepthwise: true }).clusterable, true);
  });

  it('accepts the float dtypes of a file', () => {
    for (const dtype of ['float16', 'float32', 'float64']) {
      assert.equal(decideWeight('Dense', { name: 'kernel', shape: [4, 4], dtype }, defaults).clusterable, true, dtype);
    }
    assert.match(decideWeight('Dense', { name: 'kernel', shape: [4, 4], dtype: 'int32' }, defaults).reason, /dtype int32/);
  });
});

describe('layer decisions', () => {
  it('without rules, clusters kernels with job settings', () => {
    const decisions = decide({});
    assert.equal(decisions[0]![0]!.clusterable, true);
    assert.equal(decisions[0]![0]!.rule, null);
    assert.equal(decisions[0]![0]!.settings?.numberOfClusters, 8);
    assert.equal(decisions[3]![0]!.reason, 'kernel of Dense in TimeDistributed');
    assert.equal(decisions[4]![0]!.clusterable, true, 'a layer of a nested model');
    assert.equal(decisions[1]!.some((decision) => decision.clusterable), false, 'BatchNormalization');
  });

  it('rule settings override job settings', () => {
    const decisions = decide({ cluster_biases: false, layers: [{ match: { name: 'conv' }, number_of_clusters: 4, cluster_biases: true }] });
    assert.equal(decisions[0]![0]!.settings?.numberOfClusters, 4);
    assert.equal(decisions[0]![1]!.clusterable, true, 'conv bias, 8 values, 4 clusters');
    assert.equal(decisions[3]![1]!.clusterable, false, 'other biases keep the job setting');
  });

  it('class rules match wrapped layers', () => {
    const decisions = decide({ layers: [{ match: { class: 'Dense' }, action: 'exclude' }] });
    assert.equal(decisions[3]![0]!.clusterable, false);
    assert.match(decisions[3]![0]!.reason, /excluded by layers\[0\] \(class "Dense"\)/);
  });

  it('name rules match enclosing models', () => {
    const decisions = decide({ number_of_clusters: 2, layers: [{ match: { name: 'head' }, number_of_clusters: 3 }] });
    assert.equal(decisions[4]![0]!.settings?.numberOfClusters, 3);
  });

  it('raises for a missing layer name', () => {
    assert.throws(
      () => decide({ layers: [{ match: { name: 'convv' }, action: 'exclude' }] }),
      (error: unknown) =>
        error instanceof CentroidError &&
        error.code === 'PARAMS_INVALID' &&
        error.location.field === 'layers.0.match.name' &&
        error.location.layer === 'convv' &&
        /no layer of that name \(layers with weights: conv, bn, td, head_dense\)/.test(error.message),
    );
  });

  it('raises for a layer with nothing to cluster', () => {
    assert.throws(
      () => decide({ layers: [{ match: { pattern: '*' } }, { match: { name: 'flatten' } }] }),
      (error: unknown) =>
        error instanceof CentroidError &&
        error.code === 'LAYER_NOT_CLUSTERABLE' &&
        error.location.field === 'layers.1.match.name' &&
        error.location.layer === 'flatten' &&
        /layers\[1\] \(name "flatten"\) includes layer "flatten" \(Flatten\), but it has no weights/.test(error.message),
    );
  });

  it('raises for per-channel kernels with small channels', () => {
    // conv's kernel 3x3x1x8 has 72 weights, but each of its 8 output channels has 9.
    const include = (rule: Record<string, unknown>) => decide({ number_of_clusters: 16, layers: [{ match: { name: 'conv' }, ...rule }] });
    assert.throws(
      () => include({ cluster_per_channel: true }),
      (error: unknown) =>
        error instanceof CentroidError &&
        error.code === 'LAYER_NOT_CLUSTERABLE' &&
        error.location.field === 'layers.0.match.name' &&
        /kernel of Conv2D: 9 weights per output channel \(axis 3\), no more than the 16 clusters per channel/.test(error.message),
    );
    assert.equal(include({})[0]![0]!.clusterable, true, 'per tensor, 72 weights exceed 16 clusters');
    assert.equal(include({ cluster_per_channel: true, number_of_clusters: 8 })[0]![0]!.clusterable, true, '9 weights per channel exceed 8 clusters');
  });

  it('does not know input layers by name', () => {
    const model = [layer('pixels', 'InputLayer', []), ...MODEL];
    assert.throws(
      () => decideLayers(model, JobParamsSchema.parse({ number_of_clusters: 8, layers: [{ match: { name: 'pixels' }, action: 'exclude' }] })),
      (error: unknown) => error instanceof CentroidError && error.code === 'PARAMS_INVALID' && error.location.layer === 'pixels',
    );
  });

  it('skips the check for unknown weights', () => {
    const model = [layer('inner', 'Flatten', [], { weightsUnknown: true })];
    assert.doesNotThrow(() => decideLayers(model, JobParamsSchema.parse({ number_of_clusters: 8, layers: [{ match: { name: 'inner' } }] })));
  });
});

describe('unmatched rules', () => {
  function unmatched(layers: unknown[], model: LayerDescription[] = MODEL) {
    const params = JobParamsSchema.parse({ number_of_clusters: 8, layers });
    return findUnmatchedRules(model, params.layers ?? []);
  }

  it('warns for a misspelt class', () => {
    const warnings = unmatched([{ match: { name: 'conv' } }, { match: { class: 'Conv9D' }, action: 'exclude' }]);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.code, 'LAYER_RULE_UNMATCHED');
    assert.match(warnings[0]!.message, /^layers\[1\] \(class "Conv9D"\) matched no layer of the model, so it changed nothing\./);
    assert.match(warnings[0]!.message, /layer classes: Conv2D, BatchNormalization, Flatten, TimeDistributed, Dense, Sequential\.$/);
  });

  it('warns for a pattern that matches nothing', () => {
    const warnings = unmatched([{ match: { pattern: 'block9_*' } }]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /^layers\[0\] \(pattern "block9_\*"\) matched no layer/);
    assert.match(warnings[0]!.message, /layers with weights: conv, bn, td, head_dense\.$/);
  });

  it('warns once per unmatched rule', () => {
    const warnings = unmatched([{ match: { class: 'Conv9D' } }, { match: { class: 'Dense' } }, { match: { pattern: 'x*' } }]);
    assert.deepEqual(
      warnings.map((warning) => warning.message.slice(0, warning.message.indexOf(')') + 1)),
      ['layers[0] (class "Conv9D")', 'layers[2] (pattern "x*")'],
    );
  });

  it('counts wrapped layers and enclosing models as matches', () => {
    const rules = [
      { match: { class: 'Dense' } },
      { match: { pattern: 'td_*' } },
      { match: { class: 'Sequential' } },
      { match: { pattern: 'hea?' } },
      { match: { class: 'Flatten' }, action: 'exclude' },
    ];
    assert.deepEqual(unmatched(rules), []);
  });

  it('leaves name rules to decideLayers', () => {
    assert.deepEqual(unmatched([{ match: { name: 'convv' } }]), []);
  });

  it('does not count input layers as matches', () => {
    const model = [layer('pixels', 'InputLayer', []), ...MODEL];
    const warnings = unmatched([{ match: { pattern: 'pix*' }, action: 'exclude' }], model);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /^layers\[0\] \(pattern "pix\*"\)/);
  });
});
