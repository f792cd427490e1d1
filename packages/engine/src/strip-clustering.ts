// Ends clustering. Each latent weight gets a final assignment to its nearest centroid,
// the gathered values go into the layer's own variable, and the layer's `read()` is
// restored, so the model is a plain model of the original architecture again.
import { assignClusters } from './assign-clusters.js';
import type { ClusterTarget, ClusteringSession } from './clustering-session.js';

/**
 * Assigns every latent weight to its nearest final centroid with {@link assignClusters}
 * (exact float64 midpoints, so the result does not depend on the backend), writes the
 * centroid values into the original variables and ends the session.
 *
 * Returns each target's final values, flattened in row-major order like the variable.
 * Each contains at most `numberOfClusters` distinct values, or that many per output
 * channel when clustered per channel. Weights the session did not
 * cluster keep the values they have now.
 */
export function stripClustering(session: ClusteringSession): Map<ClusterTarget, Float32Array> {
  const finalValues = new Map<ClusterTarget, Float32Array>();

  for (const target of session.targets) {
    const groupedValues = session.groupedFinalValues(target);
    if (groupedValues !== null) {
      finalValues.set(target, groupedValues);
      continue;
    }
    const centroids = session.centroids(target).sort();
    const assignment = assignClusters(session.latentWeights(target), centroids);

    const values = new Float32Array(assignment.length);
    for (let i = 0; i < assignment.length; i++) {
      values[i] = centroids[assignment[i] as number] as number;
    }
    finalValues.set(target, values);
  }

  session.end(finalValues);
  return finalValues;
}
