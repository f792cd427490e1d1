// Formats a job's metrics as the plain-text report that `run` and `demo` print.
import type { Evaluation, Metrics } from '@centroid/contracts';

const formatBytes = (bytes: number): string => bytes.toLocaleString('en-US');
const formatLoss = (evaluation: Evaluation | null): string => (evaluation === null ? 'n/a' : evaluation.loss.toFixed(4));
const formatAccuracy = (evaluation: Evaluation | null): string =>
  evaluation?.accuracy == null ? 'n/a' : evaluation.accuracy.toFixed(4);

/** Aligns cells in columns: text columns (listed in `leftAligned`) to the left, numbers to the right. */
function table(rows: string[][], leftAligned: ReadonlySet<number> = new Set([0])): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const align = (cell: string, column: number) =>
    leftAligned.has(column) ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!);
  return rows.map((row) => row.map(align).join('  ').trimEnd()).join('\n');
}

/** Renders metrics: accuracy and size of the original and the shipped model, then one row per weight tensor. */
export function formatSummary(metrics: Metrics): string {
  const { baseline, clustered, size } = metrics;
  const lines: string[] = [];

  lines.push(
    table([
      ['', 'test loss', 'test accuracy', 'bytes', 'gzipped bytes'],
      ['original', formatLoss(baseline), formatAccuracy(baseline), formatBytes(size.original_bytes), formatBytes(size.original_gzip_bytes)],
      ['clustered (shipped)', formatLoss(clustered), formatAccuracy(clustered), formatBytes(size.clustered_bytes), formatBytes(size.clustered_gzip_bytes)],
    ]),
  );
  lines.push('');
  lines.push(`gzip compression ratio: ${size.gzip_ratio.toFixed(2)}x`);
  if (size.ideal_bytes !== undefined) {
    // An estimate, not a file: the assignments coded at their entropy over each whole tensor,
    // plus the float32 centroids and the unclustered weights at 4 bytes each.
    const ratio = (size.original_gzip_bytes / size.ideal_bytes).toFixed(2);
    lines.push(`ideal size (entropy-coded assignments and centroids): ${formatBytes(size.ideal_bytes)} bytes, ${ratio}x below the original gzip`);
  }
  if (baseline?.accuracy != null && clustered?.accuracy != null) {
    const delta = (clustered.accuracy - baseline.accuracy) * 100;
    lines.push(`accuracy change: ${delta >= 0 ? '+' : ''}${delta.toFixed(2)} points on ${clustered.samples} test samples`);
  }
  const tuning = metrics.fine_tuning;
  lines.push(
    tuning.performed
      ? `fine-tuning: ${tuning.epochs} epoch(s) on ${tuning.train_samples} of ${tuning.available_train_samples} training samples, ${tuning.steps} steps`
      : `fine-tuning: skipped (${tuning.skipped_reason})`,
  );
  lines.push(`backend: ${metrics.backend.name} ${metrics.backend.version}`);
  lines.push('');

  const layerRows = [['layer', 'weight', 'shape', 'clustered', 'clusters', 'distinct before', 'distinct after', 'reason']];
  for (const layer of metrics.layers) {
    layerRows.push([
      layer.layer,
      layer.weight,
      layer.shape.join('x'),
      layer.clustered ? 'yes' : 'no',
      layer.number_of_clusters === null ? '-' : String(layer.number_of_clusters),
      String(layer.distinct_before),
      String(layer.distinct_after),
      layer.reason,
    ]);
  }
  lines.push(table(layerRows, new Set([0, 1, 7])));

  for (const warning of metrics.warnings) lines.push(`warning ${warning.code}: ${warning.message}`);
  return lines.join('\n');
}
