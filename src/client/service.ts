import type { Operation } from 'fast-json-patch';
import fastJsonPatch from 'fast-json-patch';
import type { Config } from '../config/schema.js';
import { publicUrl } from '../config/urls.js';
import type { SecretHasher } from '../crypto/hasher.js';
import { type Keyring, safeEqual, sha256Hex } from '../crypto/keyring.js';
import { mintOpaqueToken, verifyOpaqueToken } from '../crypto/opaque-token.js';
import { randomString } from '../crypto/random.js';
import { BadRequestError, ConflictError, InvalidClientMetadataError, NotFoundError } from '../http/errors.js';
import { type Clock, systemClock } from '../util/clock.js';
import { LruMap } from '../util/lru.js';
import { ClientMetadataDocuments, type MetadataDocumentDeps, type UnresolvedClient } from './metadata-document.js';
import { ADMIN_ONLY_FIELDS, type ClientInput, type ClientResponse, type OAuth2Client } from './model.js';
import { type ClientOrigin, checkRemoteMetadata, type RemoteCheckOptions } from './remote-checks.js';
import type { ClientQuery, ClientRepository, StoredClient } from './repository.js';
import { checkRegistrationPolicy, normalizeClient, normalizeLifespans, rfc3339 } from './validate.js';

/** Hydra generates 26-character secrets; shorter chosen secrets are refused below this length. */
const GENERATED_SECRET_LENGTH = 26;
const MIN_SECRET_LENGTH = 6;
/** Hydra keeps the five most recently rotated secrets; an older one stops authenticating. */
export const MAX_ROTATED_SECRETS = 5;
/** The methods that authenticate with a secret, the only ones whose secret can be rotated (as in Hydra). */
const SECRET_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post'];

export interface ClientServiceDeps {
  config: Config;
  repository: ClientRepository;
  hasher: SecretHasher;
  keyring: Keyring;
  /** How host names resolve for the private-address guard (default: the system resolver). */
  resolve?: RemoteCheckOptions['resolve'];
  /** Traces the `sector_identifier_uri` fetch (the registry's tracing, when on). */
  tracing?: RemoteCheckOptions['tracing'];
  /** The time client ID metadata documents are cached by (the registry's clock). */
  clock?: Clock;
  /** Where refused client ID metadata documents are reported. */
  logger?: MetadataDocumentDeps['logger'];
}

/** At most this many clients are kept in memory for authentication (the least recently read dropped first). */
const MAX_CACHED_CLIENTS = 1024;

/** Client management shared by the admin API, dynamic registration and the CLI. */
export class ClientService {
  /**
   * Clients as `find` last read them, each for at most `cache.ttl` (0: no cache): the token endpoint,
   * the authorization endpoint and the flows read the same few clients on every request. This node's
   * own writes drop the entry as soon as they are stored; another node's show within `cache.ttl`.
   * Entries are frozen, as every reader shares them. Unknown ids are not remembered.
   */
  private readonly cache = new LruMap<string, { until: number; stored: Promise<StoredClient | undefined> }>(MAX_CACHED_CLIENTS);

  /** Clients described by client ID metadata documents (`oauth2.client_id_metadata_documents`), cached apart. */
  private readonly documents: ClientMetadataDocuments;

  constructor(private readonly deps: ClientServiceDeps) {
    this.documents = new ClientMetadataDocuments({
      config: deps.config,
      clock: deps.clock ?? systemClock,
      logger: deps.logger,
      tracing: deps.tracing,
      store: (stored) => this.storeDocumentClient(stored),
    });
  }

  /**
   * Writes (or rewrites) the row standing in for a client a metadata document describes, each time
   * the document is fetched: its tokens and consents refer to the client by a foreign key. A
   * registered client with that id is left alone.
   */
  private async storeDocumentClient(stored: StoredClient): Promise<void> {
    const id = stored.client.client_id;
    const existing = await this.deps.repository.find(id);
    try {
      if (!existing) await this.deps.repository.insert(stored);
      else if (existing.metadataDocument) {
        await this.deps.repository.update({ ...stored, client: { ...stored.client, created_at: existing.client.created_at } });
      }
    } catch (error) {
      // Another request (or node) stored it first.
      if (!(error instanceof ConflictError)) throw error;
    } finally {
      this.forget(id);
    }
  }

  /**
   * Creates a client; the response carries the secret and registration token, never shown again.
   * `origin.selfRegistered` marks a client created through dynamic registration: held to the
   * registration policy and to `outboundPolicy`.
   */
  async create(input: ClientInput, origin: ClientOrigin = {}): Promise<ClientResponse> {
    const selfRegistered = origin.selfRegistered === true;
    const client = this.normalizeFor(selfRegistered, selfRegistered ? registrantInput(input) : input, undefined);
    const secret = this.chooseSecret(client, selfRegistered ? undefined : input.client_secret);
    await this.checkRemote(client, origin);
    const registration = mintOpaqueToken(this.deps.keyring, 'accessToken');
    const stored: StoredClient = {
      selfRegistered,
      client,
      secretHash: secret ? await this.deps.hasher.hash(secret) : null,
      registrationTokenHash: sha256Hex(registration.signature),
    };
    try {
      await this.deps.repository.insert(stored);
    } catch (error) {
      // A client the admin registers at a metadata document's URL replaces the row standing in for the
      // document's client; the document's tokens and consents go with that row, not to the new client.
      // Never for a registrant (who cannot choose a client_id today): that would end another client's grants.
      if (selfRegistered || !(error instanceof ConflictError) || !(await this.deps.repository.deleteStandIn(client.client_id))) {
        throw error;
      }
      await this.deps.repository.insert(stored);
    }
    this.forget(client.client_id);
    return {
      ...this.present(client),
      ...(secret ? { client_secret: secret } : {}),
      registration_access_token: registration.token,
    };
  }

  async get(id: string): Promise<ClientResponse> {
    return this.present((await this.load(id)).client);
  }

  /**
   * The stored client with its hashes, for authentication and the flows; undefined when unknown.
   * Served from memory for at most `cache.ttl`; the result is frozen (shared by every caller).
   */
  find(id: string): Promise<StoredClient | undefined> {
    return this.findRegistered(id).then(async (stored) => {
      // A registered client wins over a document at the same URL. A row standing in for a document's
      // client is not the client: the document is (cached, or fetched again), and without the
      // feature there is no such client.
      if (stored && !stored.metadataDocument) return stored;
      if (!this.documents.handles(id)) return undefined;
      const found = await this.documents.resolve(id);
      return found && deepFreeze(found);
    });
  }

  /**
   * Why `find` found no client for `id` when it is a client ID metadata document URL that was
   * refused (unreachable, invalid, …); undefined for other unknown ids.
   */
  unresolved(id: string): UnresolvedClient | undefined {
    return this.documents.handles(id) ? this.documents.unresolved(id) : undefined;
  }

  private findRegistered(id: string): Promise<StoredClient | undefined> {
    const ttl = this.deps.config.cache.ttl;
    if (ttl <= 0) return this.deps.repository.find(id);
    const now = Date.now();
    const hit = this.cache.get(id);
    if (hit && hit.until > now) return hit.stored;
    const entry = { until: now + ttl, stored: this.deps.repository.find(id).then((stored) => stored && deepFreeze(stored)) };
    this.cache.set(id, entry);
    const forget = () => {
      if (this.cache.peek(id) === entry) this.cache.delete(id);
    };
    entry.stored.then((stored) => stored || forget(), forget);
    return entry.stored;
  }

  async list(query: ClientQuery): Promise<{ items: ClientResponse[]; total: number }> {
    const { items, total } = await this.deps.repository.list(query);
    return { items: items.map((stored) => this.present(stored.client)), total };
  }

  /** Replaces a client (PUT). An empty `client_secret` keeps the stored hash. */
  async replace(id: string, input: ClientInput): Promise<ClientResponse> {
    const stored = await this.loadChangeable(id);
    const client = normalizeClient(input, { config: this.deps.config, now: new Date(), existing: stored.client });
    await this.checkRemote(client, stored);
    return this.save(stored, client, input.client_secret);
  }

  /**
   * Applies an RFC 6902 JSON Patch to the client as GET shows it (PATCH); `validate` checks the
   * patched document's shape (it throws when a field has the wrong type) before it is normalized.
   */
  async patch(id: string, operations: Operation[], validate: (document: unknown) => void = () => {}): Promise<ClientResponse> {
    const stored = await this.loadChangeable(id);
    // `client_secret` is present (empty: keep) so that both `add` and `replace` can set a new one.
    const document = { ...this.present(stored.client), client_secret: '' } as unknown as Record<string, unknown>;
    let patched: ClientInput;
    try {
      patched = fastJsonPatch.applyPatch(document, operations, true, false).newDocument as ClientInput;
    } catch (error) {
      throw new BadRequestError(`The JSON Patch could not be applied: ${(error as Error).message.split('\n')[0]}`);
    }
    if (patched.client_id !== stored.client.client_id) throw new BadRequestError('The client_id of a client cannot be changed.');
    validate(patched);
    const client = normalizeClient(patched, { config: this.deps.config, now: new Date(), existing: stored.client });
    await this.checkRemote(client, stored);
    return this.save(stored, client, patched.client_secret);
  }

  /** Sets the per-grant token lifespans. */
  async setLifespans(id: string, input: Record<string, unknown>): Promise<ClientResponse> {
    const stored = await this.loadChangeable(id);
    const client: OAuth2Client = { ...stored.client, ...normalizeLifespans(input, this.deps.config), updated_at: rfc3339(new Date()) };
    return this.save(stored, client, undefined);
  }

  /**
   * Rotates a client's secret (Hydra's `rotateOAuth2ClientSecret`): a new generated secret, shown
   * once in the response, while the current one joins the rotated secrets, which keep
   * authenticating until `deleteRotatedSecrets` (only the MAX_ROTATED_SECRETS newest are kept).
   */
  async rotateSecret(id: string): Promise<ClientResponse> {
    const stored = await this.loadRotatable(id);
    const kept = stored.rotatedSecretHashes ?? [];
    const rotatedSecretHashes = stored.secretHash ? [stored.secretHash, ...kept.slice(0, MAX_ROTATED_SECRETS - 1)] : kept;
    const secret = randomString(GENERATED_SECRET_LENGTH);
    const client: OAuth2Client = { ...stored.client, updated_at: rfc3339(new Date()) };
    await this.update({ ...stored, client, secretHash: await this.deps.hasher.hash(secret), rotatedSecretHashes });
    return { ...this.present(client), client_secret: secret };
  }

  /** Removes every rotated secret (Hydra's `deleteRotatedOAuth2ClientSecrets`): only the current one authenticates. */
  async deleteRotatedSecrets(id: string): Promise<ClientResponse> {
    const stored = await this.loadRotatable(id);
    const client: OAuth2Client = { ...stored.client, updated_at: rfc3339(new Date()) };
    await this.update({ ...stored, client, rotatedSecretHashes: [] });
    return this.present(client);
  }

  async delete(id: string): Promise<void> {
    const deleted = await this.deps.repository.delete(id);
    this.forget(id);
    if (!deleted) throw notFound(id);
  }

  /**
   * The stored client a registration access token (RFC 7592 §3) was issued for: the token's HMAC
   * must verify under a system secret, and the SHA-256 of its signature must equal the stored hash
   * (compared in constant time). Undefined for an unknown client or any other token.
   */
  async authenticateRegistration(id: string, token: string): Promise<StoredClient | undefined> {
    const signature = verifyOpaqueToken(this.deps.keyring, 'accessToken', token);
    if (signature === undefined) return undefined;
    const stored = await this.deps.repository.find(id);
    if (!stored?.registrationTokenHash) return undefined;
    return safeEqual(sha256Hex(signature), stored.registrationTokenHash) ? stored : undefined;
  }

  /**
   * Dynamic registration's replace (RFC 7592 §2.2) of a client its registration token authenticated:
   * held to the registration policy, the secret kept, the admin-only fields reset to their defaults,
   * and a new registration access token replaces the old one. Undefined when the client changed its token (or was deleted) since it was authenticated.
   */
  async replaceRegistered(current: StoredClient, input: ClientInput): Promise<ClientResponse | undefined> {
    const expected = current.registrationTokenHash;
    if (!expected) return undefined;
    // What only the admin may set goes back to its default: a registration token must not be a way
    // to keep `skip_consent` (or a lifespan, or metadata) while changing the redirect URIs.
    const client = this.normalizeFor(true, registrantInput(input), current.client);
    // A registration-token holder chose these URLs: the client counts as self-registered from now on.
    await this.checkRemote(client, { selfRegistered: true });
    const { secretHash, rotatedSecretHashes, shownSecret } = await this.secretFor(current, client, undefined);
    const registration = mintOpaqueToken(this.deps.keyring, 'accessToken');
    const rotated = await this.deps.repository.update(
      { client, secretHash, rotatedSecretHashes, registrationTokenHash: sha256Hex(registration.signature), selfRegistered: true },
      { registrationTokenHash: expected },
    );
    this.forget(client.client_id);
    if (!rotated) return undefined;
    return {
      ...this.present(client),
      ...(shownSecret ? { client_secret: shownSecret } : {}),
      registration_access_token: registration.token,
    };
  }

  /** Deletes a client its registration token authenticated; false when that token was rotated meanwhile. */
  async deleteRegistered(current: StoredClient): Promise<boolean> {
    const expected = current.registrationTokenHash;
    if (!expected) return false;
    const deleted = await this.deps.repository.delete(current.client.client_id, { registrationTokenHash: expected });
    this.forget(current.client.client_id);
    return deleted;
  }

  /** `normalizeClient`, plus the registration policy for what a registrant (not the admin) sends. */
  private normalizeFor(selfRegistered: boolean, input: ClientInput, existing: OAuth2Client | undefined): OAuth2Client {
    const config = this.deps.config;
    const client = normalizeClient(input, { config, now: new Date(), ...(existing ? { existing } : {}) });
    if (selfRegistered) checkRegistrationPolicy(client, config);
    return client;
  }

  /** Drops a client from the cache once a change to it is stored (or failed: the next read is fresh either way). */
  private forget(id: string): void {
    this.cache.delete(id);
  }

  private async checkRemote(client: OAuth2Client, origin: ClientOrigin): Promise<void> {
    await checkRemoteMetadata(client, {
      config: this.deps.config,
      selfRegistered: origin.selfRegistered === true,
      ...(this.deps.resolve ? { resolve: this.deps.resolve } : {}),
      tracing: this.deps.tracing,
    });
  }

  private async load(id: string): Promise<StoredClient> {
    const stored = await this.deps.repository.find(id);
    if (!stored) throw notFound(id);
    return stored;
  }

  /**
   * A client the admin API may change. A row standing in for a metadata document's client can be
   * read and deleted (revoking the client's tokens), not changed: the next fetch of the document
   * would silently undo the change. Registering a client with its id replaces it (`create`).
   */
  private async loadChangeable(id: string): Promise<StoredClient> {
    const stored = await this.load(id);
    if (stored.metadataDocument) {
      throw new ConflictError(
        `The client "${id}" is described by its client ID metadata document, which the server fetches again: change the document, or create a client with this id to replace it.`,
      );
    }
    return stored;
  }

  /** A client whose secret can be rotated (it authenticates with one), else Hydra's 400. */
  private async loadRotatable(id: string): Promise<StoredClient> {
    const stored = await this.loadChangeable(id);
    const method = stored.client.token_endpoint_auth_method;
    if (!SECRET_METHODS.includes(method)) {
      throw new BadRequestError(
        `The client is configured to use the "${method}" authentication method, which does not support client secret rotation.`,
      );
    }
    return stored;
  }

  private async save(stored: StoredClient, client: OAuth2Client, newSecret: string | undefined): Promise<ClientResponse> {
    const { secretHash, rotatedSecretHashes, shownSecret } = await this.secretFor(stored, client, newSecret);
    await this.update({ client, secretHash, rotatedSecretHashes, registrationTokenHash: stored.registrationTokenHash });
    return { ...this.present(client), ...(shownSecret ? { client_secret: shownSecret } : {}) };
  }

  /** Stores an admin change to a client (dropping it from the cache); NotFoundError when it is gone. */
  private async update(stored: StoredClient): Promise<void> {
    const updated = await this.deps.repository.update(stored);
    this.forget(stored.client.client_id);
    if (!updated) throw notFound(stored.client.client_id);
  }

  /**
   * The secret hash an updated client keeps or gets, its rotated secrets' hashes, and the new secret
   * to show once (if any). A new secret, or none, ends the rotated secrets too (as in Hydra).
   */
  private async secretFor(
    stored: StoredClient,
    client: OAuth2Client,
    newSecret: string | undefined,
  ): Promise<{ secretHash: string | null; rotatedSecretHashes: readonly string[]; shownSecret: string | undefined }> {
    if (client.token_endpoint_auth_method === 'none') return { secretHash: null, rotatedSecretHashes: [], shownSecret: undefined };
    if (newSecret || !stored.secretHash) {
      // A chosen secret, or a public client turned confidential, which needs one to authenticate with.
      const shownSecret = this.chooseSecret(client, newSecret) as string;
      return { secretHash: await this.deps.hasher.hash(shownSecret), rotatedSecretHashes: [], shownSecret };
    }
    return { secretHash: stored.secretHash, rotatedSecretHashes: stored.rotatedSecretHashes ?? [], shownSecret: undefined };
  }

  /** The secret a client will authenticate with: the chosen one, a generated one, or none for public clients. */
  private chooseSecret(client: OAuth2Client, chosen: string | undefined): string | undefined {
    if (client.token_endpoint_auth_method === 'none') return undefined;
    if (!chosen) return randomString(GENERATED_SECRET_LENGTH);
    if (chosen.length < MIN_SECRET_LENGTH) {
      throw new InvalidClientMetadataError(`Field client_secret must contain at least ${MIN_SECRET_LENGTH} characters.`);
    }
    return chosen;
  }

  private present(client: OAuth2Client): ClientResponse {
    return { ...client, registration_client_uri: publicUrl(this.deps.config, `/oauth2/register/${encodeURIComponent(client.client_id)}`) };
  }
}

/** What a registrant may set: its input without a secret and without the fields only the admin sets. */
function registrantInput(input: ClientInput): ClientInput {
  const kept: Record<string, unknown> = { ...input, client_secret: undefined };
  for (const field of ADMIN_ONLY_FIELDS) delete kept[field];
  return kept as ClientInput;
}

/** Freezes an object and everything it holds, so that a value shared through the cache cannot be changed. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

function notFound(id: string) {
  return new NotFoundError(`The OAuth 2.0 client with id "${id}" does not exist.`);
}
