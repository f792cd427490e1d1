// Job parameters. Names and values follow tfmot.clustering.keras so that a pipeline can
// switch without rewriting its configuration; unknown fields are rejected, not ignored.
import { z } from 'zod';

export const CENTROID_INITIALISATIONS = [
  'linear',
  'random',
  'density_based',
  'kmeans_plus_plus',
  // Beyond TFMOT: k-means++ followed by Lloyd iterations, and the exact 1-D k-means.
  'kmeans',
  'kmeans_1d_optimal',
] as const;
export type CentroidInitialisation = (typeof CENTROID_INITIALISATIONS)[number];

/** The combination of members' gradients into a centroid's gradient: TFMOT's `GradientAggregation` SUM or AVG. */
export const GRADIENT_AGGREGATIONS = ['sum', 'avg'] as const;
export type GradientAggregation = (typeof GRADIENT_AGGREGATIONS)[number];

/**
 * Format of the clustered model: `same` as the upload, or Keras HDF5 (`keras_h5`, a `.h5`
 * file), a Keras 3 archive (`keras`, a `.keras` file) or a TF.js layers model (`tfjs`,
 * `model.json` and its shards in one zip).
 */
export const OUTPUT_FORMATS = ['same', 'keras_h5', 'keras', 'tfjs'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

// A range check that fails stops the checks after it. Without this, a value such as 1e300
// also fails `.int()`, whose own range is the safe integers, and gets two conflicting errors.
const ABORT = { abort: true } as const;

const lowerCase = (value: unknown): unknown => (typeof value === 'string' ? value.toLowerCase() : value);

export const FineTuneParamsSchema = z
  .object({
    /** Passes over the training data. 0 skips fine-tuning. @defaultValue 1 */
    epochs: z.number().min(0, ABORT).max(1000, ABORT).int().default(1),
    /** Samples per gradient step. @defaultValue 32 */
    batch_size: z.number().min(1, ABORT).max(65536, ABORT).int().default(32),
    /** Adam learning rate. @defaultValue 1e-5 */
    learning_rate: z.number().positive().max(1).default(1e-5),
    /** Fraction of the training data held out for validation, taken from the end as Keras does. @defaultValue 0 */
    validation_split: z.number().min(0).lt(1).default(0),
    /** Seed for centroid initialisation and batch shuffling. @defaultValue 0 */
    seed: z.number().min(0, ABORT).max(2 ** 31 - 1, ABORT).int().default(0),
    /** Fine-tune on at most this many training samples (the first ones); null uses them all. @defaultValue null */
    max_train_samples: z.number().int().min(1).nullable().default(null),
  })
  .strict();

/** Maximum length of an NPZ array name, so that messages that name an array stay short. */
export const MAX_ARRAY_NAME_LENGTH = 256;

const ArrayNameSchema = z.string().min(1).max(MAX_ARRAY_NAME_LENGTH);

export const DatasetParamsSchema = z
  .object({
    /** Array names inside the uploaded NPZ, each at most 256 characters. @defaultValue `x_train`, `y_train`, `x_test`, `y_test` */
    x_train: ArrayNameSchema.default('x_train'),
    y_train: ArrayNameSchema.default('y_train'),
    x_test: ArrayNameSchema.default('x_test'),
    y_test: ArrayNameSchema.default('y_test'),
    /** Factor applied to every input value, such as 1/255 for bytes. @defaultValue 1 */
    input_scale: z.number().positive().default(1),
  })
  .strict();

export const WebhookParamsSchema = z
  .object({
    /** Receives a signed POST when the job ends. */
    url: z.url({ protocol: /^https?$/ }),
  })
  .strict();

/** Layer classes whose weights are never clustered, whatever a rule requests. */
export const NORMALIZATION_LAYER_CLASSES = ['BatchNormalization', 'LayerNormalization'] as const;

/** Maximum length of a rule's `name`, `pattern` or `class`, far above any Keras layer name. */
export const MAX_MATCH_LENGTH = 256;

/** Maximum number of `layers` rules, so that a job's warnings stay bounded. */
export const MAX_LAYER_RULES = 512;

/**
 * The layers a rule applies to: exactly one of `name` (the exact layer name), `pattern` or
 * `class` (the Keras layer class, such as `Conv2D`). A pattern is a glob matched against
 * the whole layer name: `*` matches any run of characters, `?` matches one character and
 * every other character matches itself. The classes `Functional` and `Model` both name a
 * functional model. A rule also matches the layer that a TimeDistributed or Bidirectional
 * wrapper contains, and every layer of a nested model that it matches by the nested
 * model's name or class.
 */
export const LayerMatchSchema = z
  .object({
    name: z.string().min(1).max(MAX_MATCH_LENGTH).optional(),
    pattern: z.string().min(1).max(MAX_MATCH_LENGTH).optional(),
    class: z.string().min(1).max(MAX_MATCH_LENGTH).optional(),
  })
  .strict()
  .refine((match) => [match.name, match.pattern, match.class].filter((value) => value !== undefined).length === 1, {
    message: 'expected exactly one of name, pattern or class',
  });

/** Per-layer settings that an `include` rule may carry; each overrides the job-wide field of the same name. */
const LAYER_SETTING_FIELDS = [
  'number_of_clusters',
  'cluster_centroids_init',
  'preserve_sparsity',
  'cluster_per_channel',
  'gradient_aggregation',
  'cluster_depthwise',
  'cluster_biases',
] as const;

/**
 * One entry of `layers`. For each layer, the last rule that matches it decides: `include`
 * clusters the layer's clusterable weights with the rule's settings, `exclude` leaves the
 * layer unclustered. A layer that no rule matches is clustered with the job-wide settings.
 */
export const LayerRuleSchema = z
  .object({
    match: LayerMatchSchema,
    /** Whether the matched layers are clustered. @defaultValue `include` */
    action: z.enum(['include', 'exclude']).default('include'),
    /** Shared values per clustered tensor of the matched layers, 2 to 65,536. @defaultValue the job's `number_of_clusters` */
    number_of_clusters: z.number().min(2, ABORT).max(65536, ABORT).int().optional(),
    /** Centroid initialisation of the matched layers. @defaultValue the job's `cluster_centroids_init` */
    cluster_centroids_init: z.preprocess(lowerCase, z.enum(CENTROID_INITIALISATIONS)).optional(),
    /** @defaultValue the job's `preserve_sparsity` */
    preserve_sparsity: z.boolean().optional(),
    /** @defaultValue the job's `cluster_per_channel` */
    cluster_per_channel: z.boolean().optional(),
    /** @defaultValue the job's `gradient_aggregation` */
    gradient_aggregation: z.preprocess(lowerCase, z.enum(GRADIENT_AGGREGATIONS)).optional(),
    /** @defaultValue the job's `cluster_depthwise` */
    cluster_depthwise: z.boolean().optional(),
    /** @defaultValue the job's `cluster_biases` */
    cluster_biases: z.boolean().optional(),
  })
  .strict()
  .superRefine((rule, context) => {
    if (rule.action === 'exclude') {
      for (const field of LAYER_SETTING_FIELDS) {
        if (rule[field] !== undefined) {
          context.addIssue({
            code: 'custom',
            path: [field],
            message: `an exclude rule clusters nothing, so it takes no ${field}; remove the field or use action "include"`,
          });
        }
      }
    }
    const className = rule.match.class;
    if (rule.action === 'include' && className !== undefined && (NORMALIZATION_LAYER_CLASSES as readonly string[]).includes(className)) {
      context.addIssue({
        code: 'custom',
        path: ['match', 'class'],
        message: `weights of ${className} layers are never clustered, so they cannot be included`,
      });
    }
  });

export const JobParamsSchema = z
  .object({
    /** Shared values per clustered tensor, 2 to 65,536. */
    number_of_clusters: z.number().min(2, ABORT).max(65536, ABORT).int(),
    /** Centroid initialisation; upper-case spellings are accepted. @defaultValue `kmeans_plus_plus` */
    cluster_centroids_init: z.preprocess(lowerCase, z.enum(CENTROID_INITIALISATIONS)).default('kmeans_plus_plus'),
    /**
     * Pin one centroid of each clustered tensor at exactly 0 and keep the weights that are
     * 0 in the upload at 0 through fine-tuning and strip. @defaultValue false
     */
    preserve_sparsity: z.boolean().default(false),
    /**
     * Give every output channel of a convolution kernel its own `number_of_clusters`
     * centroids. Other kernels are clustered per tensor. @defaultValue false
     */
    cluster_per_channel: z.boolean().default(false),
    /**
     * A centroid's gradient during fine-tuning: the sum of its members' gradients, or their
     * mean; upper-case spellings are accepted. @defaultValue `sum`
     */
    gradient_aggregation: z.preprocess(lowerCase, z.enum(GRADIENT_AGGREGATIONS)).default('sum'),
    /**
     * Also cluster the depthwise kernels of DepthwiseConv2D, SeparableConv1D and
     * SeparableConv2D, which are left alone by default because clustering them costs
     * accuracy. @defaultValue false
     */
    cluster_depthwise: z.boolean().default(false),
    /** Also cluster the biases of layers whose kernel is clustered. @defaultValue false */
    cluster_biases: z.boolean().default(false),
    /**
     * Rules that include or exclude layers and override the settings above per layer,
     * applied in order so that the last matching rule decides. Absent, every layer is
     * clustered with the settings above.
     */
    layers: z.array(LayerRuleSchema).max(MAX_LAYER_RULES).optional(),
    fine_tune: FineTuneParamsSchema.default(FineTuneParamsSchema.parse({})),
    dataset: DatasetParamsSchema.default(DatasetParamsSchema.parse({})),
    /**
     * Format of the returned model: `same` as the upload, `keras_h5`, `keras` or `tfjs`.
     * Any upload can be returned as `tfjs` or `keras_h5`, and as `keras` when every layer
     * has a Keras 3 translation. Float16 weights stay float16. @defaultValue `same`
     */
    output_format: z.enum(OUTPUT_FORMATS).default('same'),
    webhook: WebhookParamsSchema.optional(),
  })
  .strict();

/** Parameters as a client may send them (defaults optional). */
export type JobParamsInput = z.input<typeof JobParamsSchema>;
/** Parameters as applied, defaults filled in. */
export type JobParams = z.output<typeof JobParamsSchema>;
export type FineTuneParams = z.output<typeof FineTuneParamsSchema>;
export type DatasetParams = z.output<typeof DatasetParamsSchema>;
export type LayerRule = z.output<typeof LayerRuleSchema>;
export type LayerMatch = z.output<typeof LayerMatchSchema>;
