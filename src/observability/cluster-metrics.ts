import { randomUUID } from 'node:crypto';
import { Metrics, type MetricsSnapshot } from './metrics.js';

/**
 * Prometheus metrics across `serve --workers` processes: the worker answering
 * `GET /admin/metrics/prometheus` asks the primary, the primary asks every live worker for a snapshot of
 * its series, and the answering worker adds them up (counters and histograms sum; a scrape sees one node).
 * Messages go over node:cluster's IPC channel; each carries a `type` starting with `portcullis:metrics:`.
 */

/** The ends of an IPC channel this module uses: `process` in a worker, a `cluster.Worker` in the primary. */
export interface Channel {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

type Message =
  | { type: 'portcullis:metrics:collect'; id: string }
  | { type: 'portcullis:metrics:collected'; id: string; snapshots: MetricsSnapshot[] }
  | { type: 'portcullis:metrics:snapshot-request'; id: string }
  | { type: 'portcullis:metrics:snapshot'; id: string; snapshot: MetricsSnapshot };

/** How long the primary waits for the workers' snapshots; a worker that is restarting is left out. */
const SNAPSHOT_WAIT_MS = 2_000;

function isMessage<T extends Message['type']>(message: unknown, type: T): message is Extract<Message, { type: T }> {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}

/** This node's metrics as a worker renders them. */
export interface NodeMetrics {
  render(): Promise<string>;
}

/** A single process's metrics (no cluster). */
export function processMetrics(metrics: Metrics): NodeMetrics {
  return { render: async () => metrics.render() };
}

/**
 * In a worker: answers the primary's snapshot requests with this process's series, and renders the sum
 * of every worker's series (this one's alone should the primary not answer in time).
 */
export function workerMetrics(metrics: Metrics, primary: Channel): NodeMetrics {
  primary.on('message', (message) => {
    if (isMessage(message, 'portcullis:metrics:snapshot-request'))
      primary.send({ type: 'portcullis:metrics:snapshot', id: message.id, snapshot: metrics.snapshot() } satisfies Message);
  });
  return {
    render: async () => {
      const snapshots = await askPrimary(primary);
      if (!snapshots) return metrics.render();
      const sum = new Metrics();
      for (const snapshot of snapshots) sum.absorb(snapshot);
      return sum.render();
    },
  };
}

function askPrimary(primary: Channel): Promise<MetricsSnapshot[] | undefined> {
  const id = randomUUID();
  return exchange(primary, { type: 'portcullis:metrics:collect', id }, SNAPSHOT_WAIT_MS * 2, (message) =>
    isMessage(message, 'portcullis:metrics:collected') && message.id === id ? message.snapshots : undefined,
  );
}

/** Sends `request` and resolves with the first reply `answer` recognises, or undefined after `timeoutMs`. */
function exchange<T>(
  channel: Channel,
  request: Message,
  timeoutMs: number,
  answer: (message: unknown) => T | undefined,
): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const onMessage = (message: unknown) => {
      const reply = answer(message);
      if (reply !== undefined) finish(reply);
    };
    const finish = (reply: T | undefined) => {
      clearTimeout(timer);
      channel.off('message', onMessage);
      resolve(reply);
    };
    channel.on('message', onMessage);
    try {
      channel.send(request);
    } catch {
      // The channel closed (the worker is exiting): no answer from it.
      finish(undefined);
    }
  });
}

/**
 * In the primary: when a worker asks to collect, requests a snapshot from every worker `workers()` lists
 * and sends them all back to the one that asked.
 */
export function relayMetrics(worker: Channel, workers: () => Channel[]): void {
  worker.on('message', (message) => {
    if (!isMessage(message, 'portcullis:metrics:collect')) return;
    void collectSnapshots(workers()).then((snapshots) =>
      worker.send({ type: 'portcullis:metrics:collected', id: message.id, snapshots } satisfies Message),
    );
  });
}

async function collectSnapshots(workers: Channel[]): Promise<MetricsSnapshot[]> {
  const snapshots = await Promise.all(workers.map((worker) => requestSnapshot(worker)));
  return snapshots.filter((snapshot): snapshot is MetricsSnapshot => snapshot !== undefined);
}

function requestSnapshot(worker: Channel): Promise<MetricsSnapshot | undefined> {
  const id = randomUUID();
  return exchange(worker, { type: 'portcullis:metrics:snapshot-request', id }, SNAPSHOT_WAIT_MS, (message) =>
    isMessage(message, 'portcullis:metrics:snapshot') && message.id === id ? message.snapshot : undefined,
  );
}
