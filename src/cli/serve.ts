import { Argument, Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ensureSystemSecret } from '../config/secrets.js';
import type { Which } from '../servers.js';

export interface ConfigFlags {
  config?: string;
  dev?: boolean;
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
    .option('--sqa-opt-out', "accepted for Hydra's command lines; no effect: Portcullis sends no telemetry")
    .action(async (which: Which, flags: ConfigFlags) => {
      await serve(which, flags);
    });
}

async function serve(which: Which, flags: ConfigFlags): Promise<void> {
  // Loaded here, not at the top: the server stack (Fastify, database drivers) takes most of a second to
  // import, which every admin-API command and `--help` would otherwise pay.
  const [{ startServers }, { createLogger }, { createRegistry }] = await Promise.all([
    import('../servers.js'),
    import('../observability/logger.js'),
    import('../registry.js'),
  ]);
  const { config, warnings } = configFromFlags(flags);
  const logger = createLogger(config.log);
  for (const warning of warnings) logger.warn(warning);
  const warning = ensureSystemSecret(config);
  if (warning) logger.warn(`\n\n    ${warning}\n`);
  if (config.dev) logger.warn('running in development mode: do not use in production');

  const embedded = config.dsn === 'memory' || config.dsn.startsWith('sqlite:');
  const registry = await createRegistry(config, logger, { migrate: config.dsn === 'memory' || (embedded && config.dev) });
  const servers = await startServers(registry, which);
  for (const [listener, url] of Object.entries(servers.urls)) logger.info({ url }, `${listener} listener ready`);
  logger.info({ issuer: config.urls.self.issuer, dsn: registry.database.location }, 'portcullis is serving');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    await servers.close();
    await registry.close();
    logger.info('stopped');
    process.exitCode = 0;
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

export { ConfigError };
