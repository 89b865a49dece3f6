import { Command, Option } from 'commander';
import { ensureSystemSecret } from '../config/secrets.js';
import { type ConfigFlags, configFromFlags } from './serve.js';

/** `portcullis ui`: the identity UI (sign-in, consent, logout and device-code pages) on its own port. */
export function uiCommand(): Command {
  return new Command('ui')
    .description('Run the identity UI: sign-in, consent, logout and device-code pages for Portcullis (port 3000)')
    .option('-c, --config <file>', 'configuration file (YAML or JSON)')
    .addOption(new Option('--dev', 'development mode: non-secure cookies, generated secret, automatic SQLite migrations'))
    .action(async (flags: ConfigFlags) => {
      await runUi(flags);
    });
}

async function runUi(flags: ConfigFlags): Promise<void> {
  // Loaded here, not at the top, so other commands and `--help` do not pay for importing the server stack.
  const [{ startIdentityUi }, { createLogger }, { openDatabase }, { pendingMigrations }] = await Promise.all([
    import('../identity/index.js'),
    import('../observability/logger.js'),
    import('../persistence/database.js'),
    import('../persistence/migrator.js'),
  ]);
  const { config, warnings } = configFromFlags(flags);
  const logger = createLogger(config.log);
  for (const warning of warnings) logger.warn(warning);
  // Development mode shares the secret `serve --dev` generates; otherwise startIdentityUi refuses to start without one.
  if (config.ui.secrets.length === 0 && config.dev) {
    const warning = ensureSystemSecret(config);
    if (warning) logger.warn(`\n\n    ${warning}\n`);
  }
  if (config.dev) logger.warn('running in development mode: do not use in production');

  const embedded = config.dsn === 'memory' || config.dsn.startsWith('sqlite:');
  const database = openDatabase(config.dsn);
  let ui: Awaited<ReturnType<typeof startIdentityUi>>;
  try {
    ui = await startIdentityUi(config, logger, { database, migrate: config.dsn === 'memory' || (embedded && config.dev) });
    const pending = await pendingMigrations(database);
    if (pending.length > 0) logger.warn({ pending }, 'database migrations are pending: run `portcullis migrate sql up`');
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }
  // What Portcullis' urls.* should point at for this UI to answer its requests (it cannot set them itself: another process).
  const pages = {
    'urls.login': `${ui.url}/login`,
    'urls.consent': `${ui.url}/consent`,
    'urls.logout': `${ui.url}/logout`,
    'urls.error': `${ui.url}/error`,
    'urls.device.verification': `${ui.url}/device`,
    'urls.device.success': `${ui.url}/device/done`,
  };
  logger.info({ url: ui.url, admin_url: config.ui.admin_url, set_in_portcullis: pages }, 'identity UI ready');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    await ui.close();
    await database.close();
    logger.info('stopped');
    process.exitCode = 0;
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
