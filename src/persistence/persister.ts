import type { Kysely } from 'kysely';
import { type ClientRepository, type DocumentReading, SqlClientRepository } from '../client/repository.js';
import { type SessionStore, SqlSessionStore } from '../flow/session-store.js';
import { DeviceCodeStore } from '../oauth2/device-store.js';
import { UsedJtiStore } from '../oauth2/jti-store.js';
import { PushedRequestStore } from '../oauth2/pushed-request-store.js';
import { SqlTokenStore, type TokenStore } from '../oauth2/token-store.js';
import { JwtBearerTrustStore } from '../oauth2/trust-store.js';
import type { Logger } from '../observability/logger.js';
import type { Clock } from '../util/clock.js';
import { CompiledStatements } from './reusable-query.js';
import type { SessionSealing } from './session-sealing.js';
import type { Tables } from './tables.js';

/** Every store, all on one connection: the database's pool, or one transaction. */
export interface Stores {
  readonly tokens: TokenStore;
  readonly sessions: SessionStore;
  readonly jtis: UsedJtiStore;
  readonly clients: ClientRepository;
  /** The JWT-bearer grant's trusted issuers. */
  readonly trusts: JwtBearerTrustStore;
  /** Pushed authorization requests (RFC 9126) waiting for the authorization endpoint. */
  readonly pushedRequests: PushedRequestStore;
  /** The device authorization grant's requests (RFC 8628). */
  readonly devices: DeviceCodeStore;
}

/**
 * The stores and the one way to change several of them atomically (as Hydra's
 * `Persister.Transaction`): `transaction(work)` runs `work` with every store bound to one database
 * transaction, committed when `work` resolves and rolled back when it throws. A unit of work begun
 * inside another joins it.
 *
 * SQLite has a single connection, held by the transaction while it is open: anything that reads
 * the database on its own (signing reads keys) must run before the transaction, not inside it.
 */
export interface Persister extends Stores {
  transaction<T>(work: (stores: Persister) => Promise<T>): Promise<T>;
}

export interface PersisterOptions {
  /** Reports the stores' background failures (a failed sweep of expired single-use ids). */
  logger?: Logger;
  /** How client documents are read back (JSON depth cap, logging of unreadable rows). */
  clientReading?: DocumentReading;
  /** How the session data of tokens and consents is written and read (sealed or plain JSON); plain by default. */
  sessionSealing?: SessionSealing;
  /** The time the used-JWT-id store tells expired ids by (the registry's clock); the system clock by default. */
  clock?: Clock;
}

export class SqlPersister implements Persister {
  readonly tokens: TokenStore;
  readonly sessions: SessionStore;
  readonly jtis: UsedJtiStore;
  readonly clients: ClientRepository;
  readonly trusts: JwtBearerTrustStore;
  readonly pushedRequests: PushedRequestStore;
  readonly devices: DeviceCodeStore;

  /** `statements`: compiled once per database, shared with the persisters of its transactions. */
  constructor(
    private readonly db: Kysely<Tables>,
    private readonly options: PersisterOptions = {},
    private readonly statements = new CompiledStatements(),
  ) {
    // Outside a transaction the token store batches concurrent inserts (group commit): one instance
    // per persister, so every request of the process shares it.
    this.tokens = new SqlTokenStore(db, options.sessionSealing, statements);
    this.sessions = new SqlSessionStore(db, options.sessionSealing, statements);
    this.jtis = new UsedJtiStore(db, options.logger, options.clock);
    this.clients = new SqlClientRepository(db, options.clientReading);
    this.trusts = new JwtBearerTrustStore(db);
    this.pushedRequests = new PushedRequestStore(db);
    this.devices = new DeviceCodeStore(db, options.sessionSealing);
  }

  transaction<T>(work: (stores: Persister) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return this.db.transaction().execute((tx) => work(new SqlPersister(tx, this.options, this.statements)));
  }
}
