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

const lowerCase = (value: unknown): unknown => (typeof value === 'string' ? value.toLowerCase() : value);

export const FineTuneParamsSchema = z
  .object({
    /** Passes over the training data. 0 skips fine-tuning. @defaultValue 1 */
    epochs: z.number().int().min(0).max(1000).default(1),
    /** Samples per gradient step. @defaultValue 32 */
    batch_size: z.number().int().min(1).max(65536).default(32),
    /** Adam learning rate. @defaultValue 1e-5 */
    learning_rate: z.number().positive().max(1).default(1e-5),
    /** Fraction of the training data held out for validation, taken from the end as Keras does. @defaultValue 0 */
    validation_split: z.number().min(0).lt(1).default(0),
    /** Seed for centroid initialisation and batch shuffling. @defaultValue 0 */
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),
    /** Fine-tune on at most this many training samples (the first ones); null uses them all. @defaultValue null */
    max_train_samples: z.number().int().min(1).nullable().default(null),
  })
  .strict();

export const DatasetParamsSchema = z
  .object({
    /** Array names inside the uploaded NPZ. @defaultValue `x_train`, `y_train`, `x_test`, `y_test` */
    x_train: z.string().min(1).default('x_train'),
    y_train: z.string().min(1).default('y_train'),
    x_test: z.string().min(1).default('x_test'),
    y_test: z.string().min(1).default('y_test'),
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

export const JobParamsSchema = z
  .object({
    /** Shared values per clustered tensor, 2 to 65,536. */
    number_of_clusters: z.number().int().min(2).max(65536),
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
    fine_tune: FineTuneParamsSchema.default(FineTuneParamsSchema.parse({})),
    dataset: DatasetParamsSchema.default(DatasetParamsSchema.parse({})),
    webhook: WebhookParamsSchema.optional(),
  })
  .strict();

/** Parameters as a client may send them (defaults optional). */
export type JobParamsInput = z.input<typeof JobParamsSchema>;
/** Parameters as applied, defaults filled in. */
export type JobParams = z.output<typeof JobParamsSchema>;
export type FineTuneParams = z.output<typeof FineTuneParamsSchema>;
export type DatasetParams = z.output<typeof DatasetParamsSchema>;
