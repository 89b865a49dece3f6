import { checkMetadataDocumentSettings } from './client/metadata-document.js';
import { ClientService } from './client/service.js';
import type { Config } from './config/schema.js';
import { createHasher, type SecretHasher } from './crypto/hasher.js';
import { Keyring } from './crypto/keyring.js';
import { RandomPool } from './crypto/random.js';
import { DeviceGuessingLimits } from './flow/device-guessing.js';
import type { SessionStore } from './flow/session-store.js';
import { KeyManager } from './jwk/manager.js';
import { SqlKeyRepository } from './jwk/repository.js';
import { ClientAuthState } from './oauth2/client-auth-state.js';
import type { DeviceCodeStore } from './oauth2/device-store.js';
import { ProofKeys } from './oauth2/dpop/proof-keys.js';
import type { UsedJtiStore } from './oauth2/jti-store.js';
import type { TokenStore } from './oauth2/token-store.js';
import { TokenService } from './oauth2/tokens.js';
import { type NodeMetrics, processMetrics } from './observability/cluster-metrics.js';
import type { Logger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { createTracing, type Tracing } from './observability/tracing.js';
import { type Database, openDatabase } from './persistence/database.js';
import { migrateUp, pendingMigrations } from './persistence/migrator.js';
import { type Persister, SqlPersister } from './persistence/persister.js';
import { SessionSealing } from './persistence/session-sealing.js';
import { type Clock, systemClock } from './util/clock.js';

/** Process-wide state every handler may read; flipped when shutdown begins. */
export interface Lifecycle {
  shuttingDown: boolean;
}

/**
 * Everything a listener needs, wired once (as Hydra's registry does). Handlers receive the
 * registry and never construct their own dependencies.
 */
export interface Registry {
  readonly config: Config;
  readonly logger: Logger;
  readonly database: Database;
  readonly keyring: Keyring;
  /** Random bytes for keys, IVs, CSRF values and request ids, drawn from one pool (the keyrings draw from it too). */
  readonly random: RandomPool;
  /** Signs the login session cookie: from `secrets.cookie`, else `secrets.system` (as Hydra's cookie store). */
  readonly cookieKeyring: Keyring;
  readonly hasher: SecretHasher;
  readonly clients: ClientService;
  readonly keys: KeyManager;
  /** Every store, and the unit of work across them (`persister.transaction`). */
  readonly persister: Persister;
  /** The persister's token store (outside a transaction: group commit). */
  readonly tokenStore: TokenStore;
  /** The persister's login and consent session store. */
  readonly sessions: SessionStore;
  readonly tokens: TokenService;
  /** Client authentication's caches (verified secrets, jwks_uri answers) and its dummy hash. */
  readonly clientAuth: ClientAuthState;
  /** The persister's single-use ids: client-assertion `jti`s and verifiable-credential nonces. */
  readonly usedJtis: UsedJtiStore;
  /** The keys of DPoP proofs verified before, imported once (`oauth2/dpop/proof-keys.ts`). */
  readonly dpopKeys: ProofKeys;
  /** The persister's device authorization requests (RFC 8628). */
  readonly devices: DeviceCodeStore;
  /** The limits on guessing device flows' user codes (per address, per device challenge). */
  readonly deviceGuessing: DeviceGuessingLimits;
  readonly lifecycle: Lifecycle;
  /** Prometheus metrics of this process (`GET /admin/metrics/prometheus`). */
  readonly metrics: Metrics;
  /** What `GET /admin/metrics/prometheus` renders: this process's metrics, or every worker's added up. */
  readonly nodeMetrics: NodeMetrics;
  /** The time expiry checks read (a test may pass its own, to move time forward). */
  readonly clock: Clock;
  /** OpenTelemetry tracing (`tracing.*`); undefined when `tracing.provider` is empty: no tracer at all. */
  readonly tracing: Tracing | undefined;
  /** Closes the database, then exports the spans still waiting. */
  close(): Promise<void>;
}

export interface RegistryOptions {
  /** Apply pending migrations before serving (memory and SQLite in development mode). */
  migrate?: boolean;
  /** Renders the node's metrics from this process's (`serve --workers`: adding up every worker's); this process's alone by default. */
  nodeMetrics?: (metrics: Metrics) => NodeMetrics;
  /** The time source; the system clock by default. */
  clock?: Clock;
}

export async function createRegistry(config: Config, logger: Logger, options: RegistryOptions = {}): Promise<Registry> {
  const tracing = createTracing(config.tracing, logger);
  const database = openDatabase(config.dsn, { tracing });
  const clock = options.clock ?? systemClock;
  try {
    if (options.migrate) {
      const applied = await migrateUp(database);
      if (applied.length > 0) logger.info({ migrations: applied }, 'applied database migrations');
    }
    const random = new RandomPool();
    const keyring = new Keyring(config.secrets.system, random);
    const hasher = createHasher({
      algorithm: config.oauth2.hashers.algorithm,
      pbkdf2Iterations: config.oauth2.hashers.pbkdf2.iterations,
      bcryptCost: config.oauth2.hashers.bcrypt.cost,
    });
    const persister = new SqlPersister(database.db, {
      logger,
      clientReading: { maxDepth: config.serve.max_json_depth, logger },
      sessionSealing: new SessionSealing({ keyring, encrypt: config.oauth2.session.encrypt_at_rest }),
      clock,
    });
    const documentsWarning = checkMetadataDocumentSettings(config);
    if (documentsWarning) logger.warn(documentsWarning);
    const clients = new ClientService({
      config,
      tracing,
      clock,
      logger,
      repository: persister.clients,
      hasher,
      keyring,
    });
    const keys = new KeyManager({
      repository: new SqlKeyRepository(database.db),
      keyring,
      rsaBits: config.keys.rsa_key_size,
      cacheTtlMs: config.cache.ttl,
    });
    const tokens = new TokenService({ config, keyring, keys, store: persister.tokens, clock });
    if ((await pendingMigrations(database)).length === 0) {
      await keys.ensureBuiltinSets();
    } else {
      logger.warn('database migrations are pending: run `portcullis migrate sql up`; /health/ready answers 503 until then');
    }
    const metrics = new Metrics();
    return {
      config,
      logger,
      database,
      keyring,
      random,
      cookieKeyring: config.secrets.cookie.length > 0 ? new Keyring(config.secrets.cookie, random) : keyring,
      hasher,
      clients,
      keys,
      persister,
      tokenStore: persister.tokens,
      sessions: persister.sessions,
      tokens,
      clientAuth: new ClientAuthState(config, clock, tracing),
      usedJtis: persister.jtis,
      dpopKeys: new ProofKeys(),
      devices: persister.devices,
      deviceGuessing: new DeviceGuessingLimits(config, clock),
      lifecycle: { shuttingDown: false },
      metrics,
      nodeMetrics: (options.nodeMetrics ?? processMetrics)(metrics),
      clock,
      tracing,
      close: async () => {
        await database.close();
        await tracing?.shutdown();
      },
    };
  } catch (error) {
    await database.close().catch(() => {});
    await tracing?.shutdown().catch(() => {});
    throw error;
  }
}
