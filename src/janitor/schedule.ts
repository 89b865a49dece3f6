import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Registry } from '../registry.js';
import { JANITOR_TABLES, type JanitorResult, runJanitor } from './janitor.js';

/** Records a run's outcome in the metrics. */
export function recordJanitorRun(metrics: Metrics, result: JanitorResult | undefined): void {
  metrics.janitorRuns.inc({ outcome: result ? 'ok' : 'failed' });
  if (result) for (const table of JANITOR_TABLES) metrics.janitorDeleted.inc({ table }, result[table]);
}

/** The slice of the registry a scheduled janitor uses: its settings, the stores it sweeps, the log and the metrics. */
export type JanitorDeps = Pick<Registry, 'config' | 'logger' | 'metrics' | 'persister'>;

export interface JanitorSchedule {
  /** Stops scheduling and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs the janitor every `janitor.schedule` inside `serve` (nothing when 0), logging each run's results.
 * Runs never overlap: the next one is scheduled when the previous one ends.
 */
export function scheduleJanitor(registry: JanitorDeps, logger: Logger = registry.logger): JanitorSchedule | undefined {
  const { schedule, batch_size, limit, keep_if_younger } = registry.config.janitor;
  if (schedule <= 0) return undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const run = async () => {
    const started = Date.now();
    try {
      const result = await runJanitor(registry.persister, {
        tokens: true,
        requests: true,
        grants: true,
        limit,
        batchSize: batch_size,
        keepIfYounger: keep_if_younger,
      });
      recordJanitorRun(registry.metrics, result);
      logger.info({ janitor: result, ms: Date.now() - started }, 'janitor run finished');
    } catch (error) {
      recordJanitorRun(registry.metrics, undefined);
      logger.error({ err: error }, 'janitor run failed');
    }
  };
  const next = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = run().finally(() => {
        running = undefined;
        next();
      });
    }, schedule);
    timer.unref();
  };
  next();
  return {
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
