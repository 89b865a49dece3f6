import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ensureSystemSecret } from '../config/secrets.js';
import type { Channel } from '../observability/cluster-metrics.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Which } from '../servers.js';
import { superviseWorkers, WORKER_READY, WORKER_SLOT_VARIABLE } from './serve-cluster.js';

export interface ConfigFlags {
  config?: string;
  dev?: boolean;
}

interface ServeFlags extends ConfigFlags {
  /** From `--workers`: a count, or 0 for one per CPU. */
  workers?: number;
}

export interface LoadedConfig {
  config: Config;
  /** Lines to log as warnings once the logger exists: Hydra keys without effect, look-alike variables. */
  warnings: string[];
}

/** Configuration as every server-side command reads it: file (`-c`), environment, then flags. */
export function configFromFlags(flags: ConfigFlags): LoadedConfig {
  const warnings: string[] = [];
  const config = loadConfig({
    ...(flags.config ? { file: flags.config } : {}),
    env: process.env,
    overrides: flags.dev ? { dev: true } : {},
    onWarning: (warning) => warnings.push(warning),
  });
  return { config, warnings };
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('Run the HTTP listeners: public (4444) and admin (4445)')
    .addArgument(new Argument('[which]', 'all, public or admin').choices(['all', 'public', 'admin']).default('all'))
    .option('-c, --config <file>', 'configuration file (YAML or JSON)')
    .addOption(new Option('--dev', 'development mode: http issuer, non-secure cookies, generated secret, automatic SQLite migrations'))
    .addOption(
      new Option(
        '--workers <count>',
        'processes sharing the listeners: a number, or auto for one per CPU (default: serve.workers, 1)',
      ).argParser(parseWorkers),
    )
    .option('--sqa-opt-out', "accepted for Hydra's command lines; no effect: Portcullis sends no telemetry")
    .action(async (which: Which, flags: ServeFlags) => {
      await serve(which, flags);
    });
}

/** `--workers`: a positive count or `auto` (0: one per CPU, as `serve.workers: 0`). */
function parseWorkers(value: string): number {
  if (value === 'auto') return 0;
  if (!/^[1-9][0-9]{0,3}$/.test(value)) throw new InvalidArgumentError('a positive number of processes, or auto');
  return Number(value);
}

async function serve(which: Which, flags: ServeFlags): Promise<void> {
  // Loaded here, not at the top: the server stack (Fastify, database drivers) takes most of a second to
  // import, which every admin-API command and `--help` would otherwise pay.
  const [{ createLogger }, { createRegistry }] = await Promise.all([import('../observability/logger.js'), import('../registry.js')]);
  const { config, warnings } = configFromFlags(flags);
  const slot = cluster.isWorker ? process.env[WORKER_SLOT_VARIABLE] : undefined;
  const logger = slot === undefined ? createLogger(config.log) : createLogger(config.log).child({ worker: Number(slot) });
  const primary = slot === undefined;
  if (primary) {
    for (const warning of warnings) logger.warn(warning);
    if (config.dev) logger.warn('running in development mode: do not use in production');
  }
  // In development mode the primary generates and stores the secret; its workers read the same file.
  const warning = ensureSystemSecret(config);
  if (warning && primary) logger.warn(`\n\n    ${warning}\n`);

  const workers = flags.workers ?? config.serve.workers;
  const count = workers === 0 ? availableParallelism() : workers;
  if (primary && count > 1) {
    if (config.dsn === 'memory')
      throw new ConfigError('serve --workers: the memory database is per process; use SQLite or a database server');
    // Migrations (SQLite in development mode) and the built-in keys, once, before any worker starts.
    const prepared = await createRegistry(config, logger, { migrate: migratesItself(config) });
    await prepared.close();
    await superviseWorkers({ workers: count, logger, shutdownTimeoutMs: config.serve.shutdown_timeout });
    return;
  }
  await serveInThisProcess(which, config, logger, slot);
}

/** Memory always, and SQLite in development mode, apply their migrations at start-up. */
function migratesItself(config: Config): boolean {
  return config.dsn === 'memory' || (config.dsn.startsWith('sqlite:') && config.dev);
}

/** Serves until SIGTERM/SIGINT: the single process of `serve`, or one worker of `serve --workers` (`slot` set). */
async function serveInThisProcess(which: Which, config: Config, logger: Logger, slot: string | undefined): Promise<void> {
  const [{ startServers }, { createRegistry }, { workerMetrics }] = await Promise.all([
    import('../servers.js'),
    import('../registry.js'),
    import('../observability/cluster-metrics.js'),
  ]);
  const worker = slot !== undefined;
  const registry = await createRegistry(config, logger, {
    migrate: !worker && migratesItself(config),
    ...(worker ? { nodeMetrics: (metrics: Metrics) => workerMetrics(metrics, process as Channel) } : {}),
  });
  // One janitor for the node: in worker 1 only, so the others never sweep the same rows at the same time.
  const servers = await startServers(registry, which, { janitor: !worker || slot === '1' }).catch(async (error: unknown) => {
    await registry.close();
    // A worker's IPC channel to the primary would keep it running; the primary sees it exit and stops.
    if (worker) process.disconnect?.();
    throw error;
  });
  for (const [listener, url] of Object.entries(servers.urls)) logger.info({ url }, `${listener} listener ready`);
  if (worker) process.send?.({ type: WORKER_READY });
  else logger.info({ issuer: config.urls.self.issuer, dsn: registry.database.location }, 'portcullis is serving');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    await servers.close();
    await registry.close();
    logger.info('stopped');
    process.exitCode = 0;
    // A worker's IPC channel to the primary would keep it running.
    if (worker) process.disconnect?.();
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

export { ConfigError };
