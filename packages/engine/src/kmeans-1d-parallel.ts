// Runs the Hirschberg splitting of exact one-dimensional k-means on worker threads. The
// calling thread keeps the recursion and blocks in Atomics.wait while workers fill cost
// rows, so the caller stays synchronous. The prefix sums and the cost rows live in
// SharedArrayBuffers, so nothing large is copied between threads.
//
// The workers run the source text of kmeans-1d-programme.ts, evaluated without the TypeScript
// loader: a worker started with the loader does not come up while the calling thread blocks.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

import { bestCut, LayerMatrix, prefixCosts, runError, smawk, SmawkScratch, splitOptimally, type RunSums } from './kmeans-1d-programme.js';

/**
 * Segments with at most this many cluster-values (clusters × distinct values) are solved
 * whole by one worker by default. Larger ones are split by two parallel cost rows.
 */
export const WHOLE_SEGMENT_WORK = 1 << 22;

/**
 * A segment of distinct values [from, to) to split into `clusters` runs, the first of
 * which is run number `firstCluster` of the whole clustering.
 */
interface Segment {
  from: number;
  to: number;
  clusters: number;
  firstCluster: number;
}

/** A message to a worker: fill a cost row, or split a small segment whole. */
type Task =
  | { kind: 'costs'; id: number; reversed: boolean; offset: number; length: number; clusters: number; row: Float64Array }
  | { kind: 'split'; id: number; from: number; to: number; clusters: number };

/** A worker's reply: done (with the cut points of a split task) or failed. */
type Reply = { id: number; starts?: number[]; error?: string };

/**
 * Returns the worker's source: the programme's functions and classes, then a loop over
 * tasks. The TypeScript loader's transform calls a `__name` helper to keep class and
 * function names, so the source defines it as a no-op.
 */
function workerSource(): string {
  const programme = [runError, splitOptimally, bestCut, prefixCosts, LayerMatrix, smawk, SmawkScratch].map((part) => part.toString());
  return `
'use strict';
const { workerData } = require('node:worker_threads');
const __name = (target) => target;
${programme.join('\n')}
const { port, signal, index, sums, size } = workerData;
const run = { sums, size };
// Tells the calling thread, which cannot see the exit event while it blocks.
process.on('exit', () => {
  Atomics.store(signal, 1 + index, 1);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
});
// Later tasks are no larger than the first, so one scratch, grown when needed, serves them all.
let scratch = null;
function scratchFor(length) {
  if (scratch === null || scratch.length < length) {
    scratch = null;
    scratch = new SmawkScratch(length);
  }
  return scratch;
}
port.on('message', (task) => {
  let reply;
  try {
    if (task.kind === 'costs') {
      prefixCosts(run, task.reversed, scratchFor(task.length), task.offset, task.length, task.clusters, task.row);
      reply = { id: task.id };
    } else {
      const starts = [];
      splitOptimally(run, scratchFor(task.to - task.from), task.from, task.to, task.clusters, starts);
      reply = { id: task.id, starts };
    }
  } catch (error) {
    reply = { id: task.id, error: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
});
`;
}

/**
 * Returns the first distinct-value index of clusters 2 … `clusters` of an optimal
 * clustering of all `run.size` distinct values, in order, computed on `threads` worker
 * threads. `run.sums` must be in a SharedArrayBuffer. Throws when a
 * worker fails or stops.
 */
export function splitOptimallyInParallel(run: RunSums, clusters: number, threads: number, wholeSegmentWork = WHOLE_SEGMENT_WORK): number[] {
  const pool = new WorkerPool(run, threads, clusters, wholeSegmentWork);
  try {
    return pool.split({ from: 0, to: run.size, clusters, firstCluster: 0 });
  } finally {
    pool.close();
  }
}

/** The workers of one call, with the queue of tasks they have not taken yet. */
class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly busy: (number | null)[] = [];
  /** [0]: replies and exits so far; [1 + i]: 1 once worker i has exited. */
  private readonly signal: Int32Array;
  private readonly queue: Task[] = [];
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private nextId = 0;
  /**
   * The cost rows of every segment, allocated once. A segment's rows are the entries
   * [from + firstCluster, to + firstCluster + 1). Segments that are split at the same
   * time are disjoint, and a segment's halves start only once its own rows are read, so
   * no two live segments share an entry. Fresh rows per segment would leave up to
   * 16 bytes per distinct value per recursion level to the garbage collector.
   */
  private readonly leftRows: Float64Array;
  private readonly rightRows: Float64Array;

  constructor(
    private readonly run: RunSums,
    threads: number,
    clusters: number,
    private readonly wholeSegmentWork: number,
  ) {
    this.leftRows = new Float64Array(new SharedArrayBuffer(8 * (run.size + clusters + 1)));
    this.rightRows = new Float64Array(new SharedArrayBuffer(8 * (run.size + clusters + 1)));
    const source = workerSource();
    this.signal = new Int32Array(new SharedArrayBuffer(4 * (1 + threads)));
    for (let i = 0; i < threads; i++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(source, {
        eval: true,
        execArgv: [],
        workerData: { port: port2, signal: this.signal, index: i, sums: run.sums, size: run.size },
        transferList: [port2],
      });
      this.workers.push(worker);
      this.ports.push(port1);
      this.busy.push(null);
    }
  }

  /** Splits `root` and returns its cut points in order. */
  split(root: Segment): number[] {
    const starts: number[] = [];
    const pending: Segment[] = [root];
    while (pending.length > 0 || this.waiting.size > 0) {
      for (const segment of pending.splice(0)) this.schedule(segment, starts, pending);
      this.dispatch();
      this.awaitReplies();
    }
    return starts.sort((a, b) => a - b);
  }

  close(): void {
    for (const port of this.ports) port.close();
    for (const worker of this.workers) void worker.terminate();
  }

  /** Queues the tasks of one segment; cut points go to `starts`, new segments to `pending`. */
  private schedule(segment: Segment, starts: number[], pending: Segment[]): void {
    const { from, to, clusters, firstCluster } = segment;
    const length = to - from;
    if (clusters === 1) return;
    if (length === clusters) {
      for (let start = from + 1; start < to; start++) starts.push(start);
      return;
    }
    if (clusters * length <= this.wholeSegmentWork) {
      this.enqueue({ kind: 'split', id: 0, from, to, clusters }, (reply) => starts.push(...(reply.starts ?? [])));
      return;
    }

    const leftClusters = clusters >> 1;
    const rightClusters = clusters - leftClusters;
    const rows = from + firstCluster;
    const leftCosts = this.leftRows.subarray(rows, rows + length + 1);
    const rightCosts = this.rightRows.subarray(rows, rows + length + 1);
    let rowsLeft = 2;
    const onRow = (): void => {
      rowsLeft--;
      if (rowsLeft > 0) return;
      const cut = bestCut(leftCosts, rightCosts, length, leftClusters, rightClusters);
      starts.push(from + cut);
      pending.push(
        { from, to: from + cut, clusters: leftClusters, firstCluster },
        { from: from + cut, to, clusters: rightClusters, firstCluster: firstCluster + leftClusters },
      );
    };
    this.enqueue({ kind: 'costs', id: 0, reversed: false, offset: from, length, clusters: leftClusters, row: leftCosts }, onRow);
    this.enqueue({ kind: 'costs', id: 0, reversed: true, offset: this.run.size - to, length, clusters: rightClusters, row: rightCosts }, onRow);
  }

  private enqueue(task: Task, onReply: (reply: Reply) => void): void {
    task.id = this.nextId++;
    this.waiting.set(task.id, onReply);
    this.queue.push(task);
  }

  /** Hands queued tasks to idle workers, the largest first. */
  private dispatch(): void {
    this.queue.sort((a, b) => taskWork(b) - taskWork(a));
    for (let i = 0; i < this.workers.length && this.queue.length > 0; i++) {
      if (this.busy[i] !== null) continue;
      const task = this.queue.shift() as Task;
      this.busy[i] = task.id;
      this.ports[i]!.postMessage(task);
    }
  }

  /** Blocks until at least one worker replies, then handles every reply there is. */
  private awaitReplies(): void {
    for (;;) {
      const seen = Atomics.load(this.signal, 0);
      let handled = 0;
      for (let i = 0; i < this.ports.length; i++) {
        for (let message = receiveMessageOnPort(this.ports[i]!); message !== undefined; message = receiveMessageOnPort(this.ports[i]!)) {
          const reply = message.message as Reply;
          this.busy[i] = null;
          handled++;
          if (reply.error !== undefined) throw new Error(`kmeans_1d_optimal worker failed: ${reply.error}`);
          const onReply = this.waiting.get(reply.id);
          this.waiting.delete(reply.id);
          onReply?.(reply);
        }
      }
      if (handled > 0 || this.waiting.size === 0) return;
      this.checkWorkersRunning();
      Atomics.wait(this.signal, 0, seen);
    }
  }

  private checkWorkersRunning(): void {
    for (let i = 0; i < this.workers.length; i++) {
      if (Atomics.load(this.signal, 1 + i) === 1) {
        throw new Error(`kmeans_1d_optimal worker ${i} exited before finishing its task`);
      }
    }
  }
}

function taskWork(task: Task): number {
  return task.kind === 'costs' ? task.clusters * task.length : task.clusters * (task.to - task.from);
}
