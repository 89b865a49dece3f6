import cluster, { type Worker } from 'node:cluster';
import { relayMetrics } from '../observability/cluster-metrics.js';
import type { Logger } from '../observability/logger.js';

/**
 * The primary of `serve --workers N`: forks N workers that share the listeners (node:cluster hands each
 * new connection to the next worker), restarts a worker that dies (with back-off), and on SIGTERM/SIGINT
 * stops them all gracefully. The primary serves no requests and opens no database: the caller has applied
 * migrations and created the built-in keys before, so the workers never race to do it.
 */

/** The environment variable telling a worker its slot (1…N); slot 1 runs the janitor's schedule. */
export const WORKER_SLOT_VARIABLE = 'PORTCULLIS_WORKER_SLOT';
/** What a worker sends the primary once its listeners accept connections. */
export const WORKER_READY = 'portcullis:worker:ready';

/** The first restart waits this long; each quick death doubles it, up to the maximum. */
const RESTART_DELAY_MS = 250;
const MAX_RESTART_DELAY_MS = 30_000;
/** A worker that ran this long before dying restarts after the first delay again. */
const STABLE_AFTER_MS = 10_000;
/** Beyond `serve.shutdown_timeout`, how long a stopping worker may take to close its database. */
const STOP_GRACE_MS = 5_000;

export interface ClusterOptions {
  workers: number;
  logger: Logger;
  shutdownTimeoutMs: number;
}

interface Slot {
  number: number;
  worker: Worker | undefined;
  startedAt: number;
  quickDeaths: number;
  ready: boolean;
}

/** Forks the workers and supervises them until a signal stops them all; resolves once all have exited. */
export function superviseWorkers({ workers, logger, shutdownTimeoutMs }: ClusterOptions): Promise<void> {
  const slots: Slot[] = Array.from({ length: workers }, (_, i) => ({
    number: i + 1,
    worker: undefined,
    startedAt: 0,
    quickDeaths: 0,
    ready: false,
  }));
  const liveWorkers = () => slots.flatMap((slot) => (slot.worker ? [slot.worker] : []));
  let stopping = false;
  let announced = false;
  const pendingRestarts = new Set<NodeJS.Timeout>();

  return new Promise((resolve) => {
    const finishIfAllExited = () => {
      if (stopping && liveWorkers().length === 0) {
        logger.info('all workers stopped');
        resolve();
      }
    };
    const stop = (signal: string, exitCode: number) => {
      if (stopping) return;
      stopping = true;
      process.exitCode = exitCode;
      for (const timer of pendingRestarts) clearTimeout(timer);
      logger.info({ signal }, 'shutting down: stopping every worker');
      for (const worker of liveWorkers()) stopWorker(worker, shutdownTimeoutMs + STOP_GRACE_MS);
      finishIfAllExited();
    };
    const fork = (slot: Slot) => {
      const worker = cluster.fork({ [WORKER_SLOT_VARIABLE]: String(slot.number) });
      slot.worker = worker;
      slot.startedAt = Date.now();
      relayMetrics(worker, liveWorkers);
      worker.on('message', (message: unknown) => {
        if ((message as { type?: unknown } | null)?.type !== WORKER_READY) return;
        slot.ready = true;
        if (!announced && slots.every((each) => each.ready)) {
          announced = true;
          logger.info({ workers }, 'portcullis is serving');
        }
      });
      worker.once('exit', (code, signal) => {
        slot.worker = undefined;
        if (stopping) return finishIfAllExited();
        if (!slot.ready) {
          // A worker that never got its listeners up (port taken, bad certificate) will not fare better on a retry.
          logger.error({ worker: slot.number, code, signal }, 'worker failed to start: stopping');
          return stop('worker start-up failure', 1);
        }
        restartLater(slot, code, signal);
      });
    };
    const restartLater = (slot: Slot, code: number | null, signal: string | null) => {
      slot.quickDeaths = Date.now() - slot.startedAt < STABLE_AFTER_MS ? slot.quickDeaths + 1 : 0;
      const delay = Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** slot.quickDeaths);
      logger.error({ worker: slot.number, code, signal, restart_in_ms: delay }, 'worker died: restarting');
      const timer = setTimeout(() => {
        pendingRestarts.delete(timer);
        if (!stopping) fork(slot);
      }, delay);
      pendingRestarts.add(timer);
    };

    process.once('SIGTERM', () => stop('SIGTERM', 0));
    process.once('SIGINT', () => stop('SIGINT', 0));
    for (const slot of slots) fork(slot);
  });
}

/** SIGTERM (the worker finishes its requests in flight and closes its stores), SIGKILL past the deadline. */
function stopWorker(worker: Worker, deadlineMs: number): void {
  const timer = setTimeout(() => worker.process.kill('SIGKILL'), deadlineMs);
  timer.unref();
  worker.once('exit', () => clearTimeout(timer));
  worker.process.kill('SIGTERM');
}
