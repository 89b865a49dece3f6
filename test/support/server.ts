import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { Configuration, JwkApi, MetadataApi, OAuth2Api, WellknownApi } from '@ory/hydra-client';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { type RunningIdentityUi, startIdentityUi } from '../../src/identity/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRegistry, type Registry } from '../../src/registry.js';
import { startServers } from '../../src/servers.js';
import type { Clock } from '../../src/util/clock.js';
import type { TestStore } from './stores.js';

export interface TestServer {
  publicUrl: string;
  adminUrl: string;
  registry: Registry;
  config: Config;
  /** Ory's own SDK, pointed at the admin listener. */
  admin: { oauth2: OAuth2Api; jwk: JwkApi; metadata: MetadataApi };
  /** Ory's own SDK, pointed at the public listener. */
  pub: { wellknown: WellknownApi; metadata: MetadataApi };
  /** Log lines written while the server ran (for asserting nothing secret is logged). */
  logs: string[];
  /** The identity UI, when started with the `identityUi` option; its log lines go to `logs` too. */
  ui?: RunningIdentityUi;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Environment-style settings, e.g. `{ STRATEGIES_ACCESS_TOKEN: 'jwt' }`. */
  env?: Record<string, string>;
  /** Skip migrations (to test readiness on an unmigrated store). */
  migrate?: boolean;
  /**
   * Serve an existing data source (e.g. another test server's `config.dsn`) instead of a fresh store;
   * closing this server then leaves that data in place.
   */
  dsn?: string;
  /**
   * Also start the identity UI (src/identity) on a free loopback port, sharing the store, as the
   * login, consent, logout and device verification app (`urls.login`, `urls.device.verification` etc.
   * point at it unless `env` sets them).
   * `adminUrl` makes it call the admin API somewhere else than the admin listener (e.g. a recording proxy).
   */
  identityUi?: boolean | { adminUrl?: string };
  /** The registry's clock (e.g. a TestClock, to expire things without sleeping); the system clock by default. */
  clock?: Clock;
}

/** Starts both listeners on ephemeral loopback ports over a fresh store of the given kind. */
export async function startTestServer(store: TestStore, options: StartOptions = {}): Promise<TestServer> {
  // Known ports, so that the issuer and the URLs in redirects point at the real listeners.
  const [publicPort, adminPort] = [await freePort(), await freePort()];
  const uiPort = options.identityUi ? await freePort() : 0;
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  const uiEnv: Record<string, string> = options.identityUi
    ? {
        URLS_LOGIN: `${uiUrl}/login`,
        URLS_CONSENT: `${uiUrl}/consent`,
        URLS_LOGOUT: `${uiUrl}/logout`,
        URLS_DEVICE_VERIFICATION: `${uiUrl}/device`,
        URLS_DEVICE_SUCCESS: `${uiUrl}/device/done`,
        UI_PORT: String(uiPort),
        UI_HOST: '127.0.0.1',
        UI_ADMIN_URL: (typeof options.identityUi === 'object' && options.identityUi.adminUrl) || `http://127.0.0.1:${adminPort}`,
      }
    : {};
  const data = options.dsn === undefined ? await store.create() : { dsn: options.dsn, drop: async () => {} };
  const config = loadConfig({
    env: {
      DSN: data.dsn,
      SECRETS_SYSTEM: 'test-secret-0123456789abcdef',
      SERVE_PUBLIC_PORT: String(publicPort),
      SERVE_ADMIN_PORT: String(adminPort),
      URLS_SELF_ISSUER: `http://127.0.0.1:${publicPort}/`,
      SERVE_PUBLIC_HOST: '127.0.0.1',
      SERVE_ADMIN_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      OAUTH2_HASHERS_PBKDF2_ITERATIONS: '1000',
      ...uiEnv,
      ...options.env,
    },
    overrides: { dev: true },
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = createLogger(config.log, sink);
  const registry = await createRegistry(config, logger, { migrate: options.migrate ?? true, clock: options.clock });
  const servers = await startServers(registry, 'all');
  const ui = options.identityUi
    ? await startIdentityUi(config, logger, { database: registry.database }).catch(async (error: unknown) => {
        await servers.close();
        await registry.close();
        throw error;
      })
    : undefined;
  const publicUrl = servers.urls.public as string;
  const adminUrl = servers.urls.admin as string;
  const adminConfig = new Configuration({ basePath: adminUrl });
  const publicConfig = new Configuration({ basePath: publicUrl });
  return {
    publicUrl,
    adminUrl,
    registry,
    config,
    admin: { oauth2: new OAuth2Api(adminConfig), jwk: new JwkApi(adminConfig), metadata: new MetadataApi(adminConfig) },
    pub: { wellknown: new WellknownApi(publicConfig), metadata: new MetadataApi(publicConfig) },
    logs,
    ...(ui ? { ui } : {}),
    close: async () => {
      await ui?.close();
      await servers.close();
      await registry.close();
      await data.drop();
    },
  };
}

/**
 * A port that is free now, chosen below the kernel's ephemeral range (32768+ on Linux): a port the
 * kernel hands out for `listen(0)` can be handed out again at once as the local port of an outbound
 * connection (to PostgreSQL, say) before the test binds it, which made runs fail with EADDRINUSE.
 * Each vitest worker takes its own slice of 10000–31999, and probes each candidate by binding it.
 */
export async function freePort(): Promise<number> {
  const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0) % 8;
  const slice = 2750;
  const base = 10_000 + worker * slice;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = base + ((nextPortOffset++ * 7919 + process.pid) % slice);
    if (await canBind(port)) return port;
  }
  throw new Error('no free port found');
}

let nextPortOffset = 0;

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}
