import type { Operation } from 'fast-json-patch';
import fastJsonPatch from 'fast-json-patch';
import type { Config } from '../config/schema.js';
import type { SecretHasher } from '../crypto/hasher.js';
import { type Keyring, sha256Hex } from '../crypto/keyring.js';
import { mintOpaqueToken } from '../crypto/opaque-token.js';
import { randomString } from '../crypto/random.js';
import { BadRequestError, InvalidClientMetadataError, NotFoundError } from '../http/errors.js';
import type { ClientInput, ClientResponse, OAuth2Client } from './model.js';
import type { ClientQuery, ClientRepository, StoredClient } from './repository.js';
import { normalizeClient, normalizeLifespans, rfc3339 } from './validate.js';

/** Hydra generates 26-character secrets; shorter chosen secrets are refused below this length. */
const GENERATED_SECRET_LENGTH = 26;
const MIN_SECRET_LENGTH = 6;

export interface ClientServiceDeps {
  config: Config;
  repository: ClientRepository;
  hasher: SecretHasher;
  keyring: Keyring;
}

/** Client management shared by the admin API, dynamic registration and the CLI. */
export class ClientService {
  constructor(private readonly deps: ClientServiceDeps) {}

  /** Creates a client; the response carries the secret and registration token, never shown again. */
  async create(input: ClientInput): Promise<ClientResponse> {
    const client = normalizeClient(input, { config: this.deps.config, now: new Date() });
    const secret = this.chooseSecret(client, input.client_secret);
    const registration = mintOpaqueToken(this.deps.keyring, 'accessToken');
    await this.deps.repository.insert({
      client,
      secretHash: secret ? await this.deps.hasher.hash(secret) : null,
      registrationTokenHash: sha256Hex(registration.signature),
    });
    return {
      ...this.present(client),
      ...(secret ? { client_secret: secret } : {}),
      registration_access_token: registration.token,
    };
  }

  async get(id: string): Promise<ClientResponse> {
    return this.present((await this.load(id)).client);
  }

  /** The stored client with its hashes, for authentication; undefined when unknown. */
  async find(id: string): Promise<StoredClient | undefined> {
    return this.deps.repository.find(id);
  }

  async list(query: ClientQuery): Promise<{ items: ClientResponse[]; total: number }> {
    const { items, total } = await this.deps.repository.list(query);
    return { items: items.map((stored) => this.present(stored.client)), total };
  }

  /** Replaces a client (PUT). An empty `client_secret` keeps the stored hash. */
  async replace(id: string, input: ClientInput): Promise<ClientResponse> {
    const stored = await this.load(id);
    const client = normalizeClient(input, { config: this.deps.config, now: new Date(), existing: stored.client });
    return this.save(stored, client, input.client_secret);
  }

  /** Applies an RFC 6902 JSON Patch to the client as GET shows it (PATCH). */
  async patch(id: string, operations: Operation[]): Promise<ClientResponse> {
    const stored = await this.load(id);
    // `client_secret` is present (empty: keep) so that both `add` and `replace` can set a new one.
    const document = { ...this.present(stored.client), client_secret: '' } as unknown as Record<string, unknown>;
    let patched: ClientInput;
    try {
      patched = fastJsonPatch.applyPatch(document, operations, true, false).newDocument as ClientInput;
    } catch (error) {
      throw new BadRequestError(`The JSON Patch could not be applied: ${(error as Error).message.split('\n')[0]}`);
    }
    if (patched.client_id !== stored.client.client_id) throw new BadRequestError('The client_id of a client cannot be changed.');
    const client = normalizeClient(patched, { config: this.deps.config, now: new Date(), existing: stored.client });
    return this.save(stored, client, patched.client_secret);
  }

  /** Sets the per-grant token lifespans. */
  async setLifespans(id: string, input: Record<string, unknown>): Promise<ClientResponse> {
    const stored = await this.load(id);
    const client: OAuth2Client = { ...stored.client, ...normalizeLifespans(input), updated_at: rfc3339(new Date()) };
    return this.save(stored, client, undefined);
  }

  async delete(id: string): Promise<void> {
    if (!(await this.deps.repository.delete(id))) throw notFound(id);
  }

  private async load(id: string): Promise<StoredClient> {
    const stored = await this.deps.repository.find(id);
    if (!stored) throw notFound(id);
    return stored;
  }

  private async save(stored: StoredClient, client: OAuth2Client, newSecret: string | undefined): Promise<ClientResponse> {
    let secretHash = stored.secretHash;
    let shownSecret: string | undefined;
    if (client.token_endpoint_auth_method === 'none') {
      secretHash = null;
    } else if (newSecret) {
      shownSecret = this.chooseSecret(client, newSecret);
      secretHash = await this.deps.hasher.hash(shownSecret as string);
    } else if (!secretHash) {
      // A public client turned confidential needs a secret to authenticate with.
      shownSecret = this.chooseSecret(client, undefined);
      secretHash = await this.deps.hasher.hash(shownSecret as string);
    }
    const updated = await this.deps.repository.update({ client, secretHash, registrationTokenHash: stored.registrationTokenHash });
    if (!updated) throw notFound(client.client_id);
    return { ...this.present(client), ...(shownSecret ? { client_secret: shownSecret } : {}) };
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
    const base = this.deps.config.urls.self.public.replace(/\/+$/, '');
    return { ...client, registration_client_uri: `${base}/oauth2/register/${encodeURIComponent(client.client_id)}` };
  }
}

function notFound(id: string) {
  return new NotFoundError(`The OAuth 2.0 client with id "${id}" does not exist.`);
}
