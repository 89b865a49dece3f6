import type { Kysely } from 'kysely';
import { SCHEMA } from '../config/schema.js';
import { ConflictError } from '../http/errors.js';
import { exceedsJsonDepth } from '../http/json-depth.js';
import type { Logger } from '../observability/logger.js';
import { isUniqueViolation } from '../persistence/errors.js';
import type { ClientRow, Tables } from '../persistence/tables.js';
import type { OAuth2Client } from './model.js';

/** A client as stored: its metadata and the hashes of its secrets. */
export interface StoredClient {
  client: OAuth2Client;
  secretHash: string | null;
  /**
   * Hashes of the secrets rotated out (newest first, at most MAX_ROTATED_SECRETS): each still
   * authenticates the client until the rotated secrets are deleted. Absent: none.
   */
  rotatedSecretHashes?: readonly string[];
  registrationTokenHash: string | null;
  /**
   * Dynamic registration created or last rewrote the client, so a registrant chose its URLs (see
   * `outboundPolicy`). Written on insert, and by updates that set it; an update never clears it.
   */
  selfRegistered?: boolean;
  /**
   * The row only stands in for a client known from its client ID metadata document (`metadata-document.ts`),
   * so that its tokens and consents have a client row to refer to: the document, not the row, is the
   * client (`ClientService.find`). Stored as `self_registered = 2`; such a client counts as self-registered.
   */
  metadataDocument?: boolean;
}

export interface ClientQuery {
  limit: number;
  /** Keyset pagination: only clients whose id sorts after this one. */
  afterId?: string;
  clientName?: string;
  owner?: string;
}

export interface ClientRepository {
  /** Throws ConflictError when the id is taken. */
  insert(stored: StoredClient): Promise<void>;
  find(id: string): Promise<StoredClient | undefined>;
  list(query: ClientQuery): Promise<{ items: StoredClient[]; total: number }>;
  /** False when no such client exists (or, with a condition, when it does not hold). */
  update(stored: StoredClient, condition?: RegistrationCondition): Promise<boolean>;
  /** False when no such client exists (or, with a condition, when it does not hold). */
  delete(id: string, condition?: RegistrationCondition): Promise<boolean>;
  /**
   * Deletes the row standing in for a metadata document's client (and, by the foreign keys, its
   * tokens and consents); false when `id` has no such row (none, or a registered client).
   */
  deleteStandIn(id: string): Promise<boolean>;
}

/**
 * Makes a write conditional on the stored registration token hash, so that of two requests holding
 * the same registration access token only the first rotates it (or deletes the client).
 */
export interface RegistrationCondition {
  registrationTokenHash: string;
}

/**
 * How stored documents are read back. A row written by an older version (or straight into the
 * database) may hold what today's requests refuse: nested so deep that serializing it overflows
 * the stack, or not JSON at all. Such a row must not turn every list of clients into a 500.
 */
export interface DocumentReading {
  /** `serve.max_json_depth`: a member nested deeper is answered empty (`{}` or `[]`). */
  maxDepth: number;
  /** Where a skipped row or an emptied member is reported. */
  logger?: Pick<Logger, 'warn'>;
}

/** `self_registered` of a row standing in for a metadata document's client (1: registered dynamically, 0: by the admin). */
const STAND_IN = 2;

export class SqlClientRepository implements ClientRepository {
  constructor(
    private readonly db: Kysely<Tables>,
    private readonly reading: DocumentReading = { maxDepth: SCHEMA.serve.max_json_depth.default },
  ) {}

  async insert(stored: StoredClient): Promise<void> {
    try {
      await this.db.insertInto('clients').values(toRow(stored)).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new ConflictError(`An OAuth 2.0 client with id "${stored.client.client_id}" already exists.`);
      throw error;
    }
  }

  async find(id: string): Promise<StoredClient | undefined> {
    const row = await this.db.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? readRow(row, this.reading) : undefined;
  }

  async list(query: ClientQuery): Promise<{ items: StoredClient[]; total: number }> {
    let filtered = this.db.selectFrom('clients');
    if (query.clientName !== undefined) filtered = filtered.where('client_name', '=', query.clientName);
    if (query.owner !== undefined) filtered = filtered.where('owner', '=', query.owner);
    let page = filtered.selectAll().orderBy('id').limit(query.limit);
    if (query.afterId !== undefined) page = page.where('id', '>', query.afterId);
    const [rows, count] = await Promise.all([
      page.execute(),
      filtered.select((eb) => eb.fn.countAll<number | string>().as('total')).executeTakeFirstOrThrow(),
    ]);
    // An unreadable row is left out of the page (and still counted in the total).
    const items = rows.flatMap((row) => readRow(row, this.reading) ?? []);
    return { items, total: Number(count.total) };
  }

  async update(stored: StoredClient, condition?: RegistrationCondition): Promise<boolean> {
    const { id, self_registered, ...rest } = toRow(stored);
    const changes = stored.selfRegistered || stored.metadataDocument ? { ...rest, self_registered } : rest;
    let query = this.db.updateTable('clients').set(changes).where('id', '=', id);
    if (condition) query = query.where('registration_token_hash', '=', condition.registrationTokenHash);
    const result = await query.executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async deleteStandIn(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('clients').where('id', '=', id).where('self_registered', '=', STAND_IN).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async delete(id: string, condition?: RegistrationCondition): Promise<boolean> {
    let query = this.db.deleteFrom('clients').where('id', '=', id);
    if (condition) query = query.where('registration_token_hash', '=', condition.registrationTokenHash);
    const result = await query.executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}

function toRow({
  client,
  secretHash,
  rotatedSecretHashes,
  registrationTokenHash,
  selfRegistered,
  metadataDocument,
}: StoredClient): ClientRow {
  return {
    id: client.client_id,
    client_name: client.client_name,
    owner: client.owner,
    secret_hash: secretHash,
    rotated_secret_hashes: rotatedSecretHashes?.length ? JSON.stringify(rotatedSecretHashes) : null,
    registration_token_hash: registrationTokenHash,
    document: JSON.stringify(client),
    self_registered: metadataDocument ? STAND_IN : selfRegistered ? 1 : 0,
    created_at: Date.parse(client.created_at),
    updated_at: Date.parse(client.updated_at),
  };
}

/** A row as a client, or undefined (logged) when its document is not a JSON object. */
function readRow(row: ClientRow, reading: DocumentReading): StoredClient | undefined {
  let document: unknown;
  try {
    document = JSON.parse(row.document);
  } catch {
    document = undefined;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    reading.logger?.warn({ client_id: row.id }, 'skipped a stored client whose document is not a JSON object');
    return undefined;
  }
  const client = document as Record<string, unknown>;
  for (const [member, value] of Object.entries(client)) {
    if (!exceedsJsonDepth(value, reading.maxDepth)) continue;
    client[member] = Array.isArray(value) ? [] : {};
    reading.logger?.warn(
      { client_id: row.id, member },
      'answered a stored client without a member nested deeper than serve.max_json_depth',
    );
  }
  return fromRow(row, client as unknown as OAuth2Client);
}

function fromRow(row: ClientRow, client: OAuth2Client): StoredClient {
  return {
    client: withDefaults(client),
    secretHash: row.secret_hash,
    rotatedSecretHashes: readHashes(row.rotated_secret_hashes),
    registrationTokenHash: row.registration_token_hash,
    selfRegistered: Number(row.self_registered) >= 1,
    ...(Number(row.self_registered) === STAND_IN ? { metadataDocument: true } : {}),
  };
}

/** A document written before a field existed gets the field's default. */
function withDefaults(client: OAuth2Client): OAuth2Client {
  if (typeof client.require_pushed_authorization_requests !== 'boolean') client.require_pushed_authorization_requests = false;
  return client;
}

/** The rotated secrets' hashes of a row: anything but a JSON array of strings counts as none (never a 500). */
function readHashes(column: string | null): string[] {
  if (column === null) return [];
  try {
    const hashes: unknown = JSON.parse(column);
    return Array.isArray(hashes) ? hashes.filter((hash): hash is string => typeof hash === 'string') : [];
  } catch {
    return [];
  }
}
