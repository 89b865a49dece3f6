import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.js';
import { closeWithin, listen } from '../http/listen.js';
import type { Logger } from '../observability/logger.js';
import { type Database, openDatabase } from '../persistence/database.js';
import { migrateUp } from '../persistence/migrator.js';
import { adminApi } from './admin-api.js';
import { createIdentityApp } from './app.js';
import { CsrfGuard } from './csrf.js';
import { uiSettings } from './settings.js';
import { SignInThrottle } from './throttle.js';
import { SqlUserStore, type UserStore } from './user-store.js';

export { createIdentityApp } from './app.js';
export type { UiContext } from './context.js';
export { type UiSettings, uiSettings } from './settings.js';
export { type NewUser, SqlUserStore, type User, type UserClaims, type UserStore } from './user-store.js';

export interface IdentityUiOptions {
  /** A database already open (e.g. the one a Portcullis started in the same process uses); left open on close. */
  database?: Database;
  /** Apply pending migrations first (development mode on SQLite, as `serve` does). */
  migrate?: boolean;
}

export interface RunningIdentityUi {
  /** Where people reach the UI: `ui.public_url`, else the address it listens on. */
  url: string;
  app: FastifyInstance;
  /** Stops accepting, lets requests in flight finish (up to `serve.shutdown_timeout`), closes what it opened. */
  close(): Promise<void>;
}

/**
 * Starts the identity UI on `ui.port`: it answers Portcullis' login, consent and logout requests
 * through the admin API at `ui.admin_url`, with people from the `users` table of `dsn`.
 */
export async function startIdentityUi(config: Config, logger: Logger, options: IdentityUiOptions = {}): Promise<RunningIdentityUi> {
  const settings = uiSettings(config);
  const database = options.database ?? openDatabase(config.dsn);
  const ownsDatabase = options.database === undefined;
  let app: FastifyInstance | undefined;
  try {
    if (options.migrate) {
      const applied = await migrateUp(database);
      if (applied.length > 0) logger.info({ migrations: applied }, 'applied database migrations');
    }
    const users: UserStore = new SqlUserStore(database.db);
    app = createIdentityApp({
      settings,
      api: adminApi(settings.adminUrl, settings.adminApiKey),
      users,
      csrf: new CsrfGuard(settings.secrets, settings.secureCookies),
      signIns: new SignInThrottle(settings.signInThrottle),
      logger,
    });
    await listen(app, settings.port, settings.host);
  } catch (error) {
    await app?.close().catch(() => {});
    if (ownsDatabase) await database.close().catch(() => {});
    throw error;
  }
  const running = app;
  const address = running.server.address();
  const port = typeof address === 'object' && address ? address.port : settings.port;
  const host = settings.host && settings.host !== '::' && settings.host !== '0.0.0.0' ? settings.host : 'localhost';
  return {
    url: settings.publicUrl || `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    app: running,
    close: async () => {
      await closeWithin([running], settings.shutdownTimeout);
      if (ownsDatabase) await database.close();
    },
  };
}
