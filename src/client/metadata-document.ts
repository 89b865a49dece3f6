import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { HttpError } from '../http/errors.js';
import { fetchResponse, type OutboundPolicy } from '../http/outbound.js';
import type { Logger } from '../observability/logger.js';
import type { Tracing } from '../observability/tracing.js';
import type { Clock } from '../util/clock.js';
import { LruMap } from '../util/lru.js';
import { ADMIN_ONLY_FIELDS, type ClientInput, clientInputSchema } from './model.js';
import { checkRemoteMetadata } from './remote-checks.js';
import type { StoredClient } from './repository.js';
import { checkRegistrationPolicy, normalizeClient } from './validate.js';

/**
 * OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): with
 * `oauth2.client_id_metadata_documents.enabled`, a `client_id` that names no registered client and
 * is an https URL is the address of the client's metadata, fetched and checked here and then used as
 * the client everywhere a client is looked up (`ClientService.find`: authorization, token,
 * introspection, the login and consent requests):
 *
 * - the URL must be https with a host and a path, without fragment, credentials or dot segments
 *   (draft §3); in development mode, URLs under `allowed_insecure_prefixes` may be plain-http
 *   loopback URLs instead;
 * - it is fetched with the private-address guard always on (anyone can make the server fetch any URL
 *   this way), within FETCH_TIMEOUT_MS and MAX_DOCUMENT_BYTES, redirects refused and any status but
 *   200 an error (draft §5); the answer must be `application/json` or `application/*+json`;
 * - the document must be a JSON object whose `client_id` is the URL, compared as strings (draft §4,
 *   RFC 3986 §6.2.1: no normalisation); it must not carry a `client_secret` or
 *   `client_secret_expires_at`, nor name a method based on a shared secret (draft §4.1): `none` (the
 *   default here, as no secret can exist) or `private_key_jwt` with `jwks` or `jwks_uri`; the rest is
 *   checked as dynamic registration checks a client (types, `normalizeClient`, the registration
 *   policy, the network checks), and the fields only the admin sets are refused;
 * - the client is treated as self-registered: its fetch targets are held to the private-address rule
 *   and invalid requests are answered on the error page, never at its redirect URIs (RFC 9700 §4.11.2).
 *
 * Valid documents are cached per URL on the registry's client service, bounded to MAX_DOCUMENTS
 * (least recently used dropped first), for as long as the answer's `Cache-Control` (`s-maxage`,
 * `max-age`) or `Expires` allows, held between MIN_CACHE_MS and MAX_CACHE_MS (DEFAULT_CACHE_MS
 * without either); `no-store` and `no-cache` keep nothing. Concurrent lookups of one URL share one
 * fetch. Failures are not cached (RFC 9111 §3), but the last reason is kept for the error answers.
 */

/** The draft's security considerations suggest a small limit (5 KB, as the MCP authorization spec). */
export const MAX_DOCUMENT_BYTES = 5 * 1024;
/** One deadline for the whole fetch: a slow document must not hold an authorization request open. */
export const FETCH_TIMEOUT_MS = 3_000;
/** At most this many documents (and as many failure reasons) are remembered. */
export const MAX_DOCUMENTS = 512;
/** A cacheable document is kept at least this long, whatever its headers say (a flow reads its client many times). */
export const MIN_CACHE_MS = 60_000;
/** And at most this long, so a changed or withdrawn document is noticed. */
export const MAX_CACHE_MS = 24 * 3_600_000;
/** Without caching headers. */
export const DEFAULT_CACHE_MS = 10 * 60_000;

/** Methods that need a secret shared with this server, which a metadata document cannot establish (draft §4.1). */
const SHARED_SECRET_METHODS: ReadonlySet<string> = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);
const FORBIDDEN_FIELDS = ['client_secret', 'client_secret_expires_at'] as const;
/** `http://` and a loopback host (IPv4 loopback, `[::1]`, `localhost`), an optional port, then `/`. */
const LOOPBACK_PREFIX = /^http:\/\/(?:127(?:\.\d{1,3}){3}|\[::1\]|localhost)(?::\d{1,5})?\//;
const GUARDED: OutboundPolicy = { disallowPrivateIpRanges: true, privateIpExceptionUrls: [] };
const LOOPBACK_ALLOWED: OutboundPolicy = { disallowPrivateIpRanges: false, privateIpExceptionUrls: [] };

export interface MetadataDocumentDeps {
  config: Config;
  clock: Clock;
  logger?: Pick<Logger, 'warn' | 'info'> | undefined;
  tracing?: Tracing | undefined;
  /** Stores the row standing in for a client whose document was just fetched and accepted (for the foreign keys of its tokens). */
  store?: (stored: StoredClient) => Promise<void>;
}

/** Why a client ID URL could not be used: `hint` may be shown to the caller, `debug` only with `oauth2.expose_internal_errors`. */
export interface UnresolvedClient {
  hint: string;
  debug: string;
}

class UnusableDocument extends Error {
  constructor(
    readonly hint: string,
    readonly debug = '',
  ) {
    super(hint);
  }
}

interface CachedDocument {
  /** Until when the document is used (clock time); Infinity while its fetch is under way. */
  until: number;
  stored: Promise<StoredClient | undefined>;
}

/**
 * The settings' problems start-up must know about: an invalid prefix stops start-up (ConfigError);
 * prefixes outside development mode are ignored, with the warning returned here.
 */
export function checkMetadataDocumentSettings(config: Config): string | undefined {
  const { allowed_insecure_prefixes: prefixes } = config.oauth2.client_id_metadata_documents;
  const bad = prefixes.find((prefix) => !LOOPBACK_PREFIX.test(prefix));
  if (bad !== undefined) {
    throw new ConfigError(
      `oauth2.client_id_metadata_documents.allowed_insecure_prefixes: "${bad}" is not a plain-http loopback URL prefix such as http://127.0.0.1:8080/`,
    );
  }
  if (prefixes.length > 0 && !config.dev) {
    return 'oauth2.client_id_metadata_documents.allowed_insecure_prefixes is honoured only in development mode (--dev) and is ignored: client ID metadata documents must be https URLs on public addresses';
  }
  return undefined;
}

/** The client ID metadata documents this server fetched, on the registry's client service. */
export class ClientMetadataDocuments {
  private readonly documents = new LruMap<string, CachedDocument>(MAX_DOCUMENTS);
  private readonly failures = new LruMap<string, UnresolvedClient>(MAX_DOCUMENTS);

  constructor(private readonly deps: MetadataDocumentDeps) {}

  /** Whether `id` is to be looked up as a client ID URL (the feature is on and the id looks like one). */
  handles(id: string): boolean {
    if (!this.deps.config.oauth2.client_id_metadata_documents.enabled) return false;
    return id.startsWith('https://') || this.insecureAllowed(id);
  }

  /** The client a client ID URL describes, or undefined (the reason then kept for `unresolved`). Never throws. */
  resolve(id: string): Promise<StoredClient | undefined> {
    const now = this.deps.clock.now();
    const hit = this.documents.get(id);
    if (hit && hit.until > now) return hit.stored;
    if (hit) this.documents.delete(id);
    const entry: CachedDocument = { until: Number.POSITIVE_INFINITY, stored: Promise.resolve(undefined) };
    entry.stored = this.load(id).then(
      ({ stored, cacheMs }) => {
        this.failures.delete(id);
        if (this.documents.peek(id) === entry) {
          if (cacheMs > 0) entry.until = this.deps.clock.now() + cacheMs;
          else this.documents.delete(id);
        }
        return stored;
      },
      (error: unknown) => {
        if (this.documents.peek(id) === entry) this.documents.delete(id);
        const reason =
          error instanceof UnusableDocument
            ? { hint: error.hint, debug: error.debug }
            : { hint: 'The client ID metadata document could not be used.', debug: String(error) };
        this.failures.set(id, reason);
        this.deps.logger?.info({ client_id: id, reason: reason.hint, detail: reason.debug }, 'client ID metadata document refused');
        return undefined;
      },
    );
    this.documents.set(id, entry);
    return entry.stored;
  }

  /** Why the last lookup of `id` found no client, if it was refused here. */
  unresolved(id: string): UnresolvedClient | undefined {
    return this.failures.peek(id);
  }

  private insecureAllowed(id: string): boolean {
    const { config } = this.deps;
    return config.dev && config.oauth2.client_id_metadata_documents.allowed_insecure_prefixes.some((prefix) => id.startsWith(prefix));
  }

  private async load(id: string): Promise<{ stored: StoredClient; cacheMs: number }> {
    const insecure = this.insecureAllowed(id);
    checkClientIdUrl(id, insecure);
    let answer: Awaited<ReturnType<typeof fetchResponse>>;
    try {
      answer = await fetchResponse(id, insecure ? LOOPBACK_ALLOWED : GUARDED, 'application/json', {
        timeoutMs: FETCH_TIMEOUT_MS,
        maxBytes: MAX_DOCUMENT_BYTES,
        tracing: this.deps.tracing,
      });
    } catch (error) {
      // Unreachable, refused, too big, too slow, redirected, an error status: one answer for all, so
      // that the caller cannot map which internal names resolve where (the reason goes to debug).
      throw new UnusableDocument(`The client ID metadata document at "${id}" could not be fetched.`, (error as Error).message);
    }
    const mediaType = (answer.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
    if (mediaType !== 'application/json' && !/^application\/[!#$&^_.+\w-]+\+json$/.test(mediaType)) {
      throw new UnusableDocument(`The client ID metadata document is served as "${mediaType}", not as application/json.`);
    }
    let document: unknown;
    try {
      document = JSON.parse(answer.body);
    } catch {
      throw new UnusableDocument('The client ID metadata document is not valid JSON.');
    }
    const client = await this.clientOf(id, document);
    const stored: StoredClient = { client, secretHash: null, registrationTokenHash: null, selfRegistered: true, metadataDocument: true };
    try {
      await this.deps.store?.(stored);
    } catch (error) {
      throw new UnusableDocument('The client described by the client ID metadata document could not be stored.', (error as Error).message);
    }
    return { stored, cacheMs: cacheLifetime(answer.headers, this.deps.clock.now()) };
  }

  /** The document as a client, checked as the draft and dynamic registration ask. */
  private async clientOf(id: string, document: unknown) {
    if (document === null || typeof document !== 'object' || Array.isArray(document)) {
      throw new UnusableDocument('The client ID metadata document is not a JSON object.');
    }
    const fields = document as Record<string, unknown>;
    if (fields.client_id !== id) {
      throw new UnusableDocument('The "client_id" of the client ID metadata document is not exactly the URL it was fetched from.');
    }
    for (const field of [...FORBIDDEN_FIELDS, ...ADMIN_ONLY_FIELDS]) {
      if (Object.hasOwn(fields, field)) throw new UnusableDocument(`A client ID metadata document may not set "${field}".`);
    }
    const method = fields.token_endpoint_auth_method ?? 'none';
    if (typeof method === 'string' && SHARED_SECRET_METHODS.has(method)) {
      throw new UnusableDocument(
        `A client ID metadata document cannot use the token_endpoint_auth_method "${method}": there is no shared secret; use "none" or "private_key_jwt".`,
      );
    }
    checkTypes(fields);
    const { config } = this.deps;
    try {
      const input: ClientInput = {
        ...(fields as ClientInput),
        token_endpoint_auth_method: method as ClientInput['token_endpoint_auth_method'],
      };
      const client = normalizeClient(input, { config, now: new Date(this.deps.clock.now()) });
      checkRegistrationPolicy(client, config);
      await checkRemoteMetadata(client, { config, selfRegistered: true, tracing: this.deps.tracing });
      return client;
    } catch (error) {
      if (error instanceof HttpError) throw new UnusableDocument(`The client ID metadata document is not valid: ${error.hint}`);
      throw error;
    }
  }
}

/** The draft's rules for a client identifier URL (§3); an allowed insecure prefix may be plain http. */
function checkClientIdUrl(id: string, insecure: boolean): void {
  const refuse = (rule: string) => new UnusableDocument(`The client_id "${id}" is not a valid client ID metadata document URL: ${rule}.`);
  // A client's id is stored (the stand-in row) and shown with this bound everywhere.
  if (id.length > clientInputSchema.properties.client_id.maxLength)
    throw refuse(`it is longer than ${clientInputSchema.properties.client_id.maxLength} characters`);
  let url: URL;
  try {
    url = new URL(id);
  } catch {
    throw refuse('it is not a URL');
  }
  if (url.protocol !== 'https:' && !(insecure && url.protocol === 'http:')) throw refuse('it must use https');
  if (id.includes('#')) throw refuse('it must not contain a fragment');
  if (url.username !== '' || url.password !== '' || /^[a-z]+:\/\/[^/?#]*@/i.test(id)) throw refuse('it must not contain credentials');
  // Checked on the text: URL parsing removes dot segments (and turns `%2e` into `.` first).
  const rawPath = id.replace(/^[a-z]+:\/\/[^/?#]*/i, '').split('?', 1)[0] as string;
  if (rawPath === '' || rawPath === '/') throw refuse('it must contain a path');
  if (rawPath.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) throw refuse('it must not contain dot segments');
}

/** The JSON types the admin API's schema asks of each known field (unknown members are ignored, RFC 7591 §2). */
function checkTypes(fields: Record<string, unknown>): void {
  const properties = clientInputSchema.properties as Record<string, { type?: string | readonly string[]; items?: { type: string } }>;
  for (const [field, value] of Object.entries(fields)) {
    // Own members of the schema only: `__proto__` or `constructor` in a document name no field.
    const rule = Object.hasOwn(properties, field) ? properties[field] : undefined;
    if (!rule?.type) continue;
    const types = typeof rule.type === 'string' ? [rule.type] : rule.type;
    const fits = types.some((type) => jsonTypeFits(type, value));
    const items = rule.items;
    const itemsFit = !Array.isArray(value) || !items || value.every((item) => jsonTypeFits(items.type, item));
    if (!fits || !itemsFit)
      throw new UnusableDocument(`The client ID metadata document is not valid: "${field}" must be ${types.join(' or ')}.`);
  }
}

function jsonTypeFits(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return Number.isInteger(value);
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      return false;
  }
}

/**
 * How long a document may be used (RFC 9111 §4.2.1): `no-store` or `no-cache` not at all; else
 * `s-maxage` (this cache serves everyone), `max-age`, or `Expires` less the answer's `Date` (or now),
 * held between MIN_CACHE_MS and MAX_CACHE_MS; DEFAULT_CACHE_MS without any of them.
 */
export function cacheLifetime(headers: Record<string, string | string[] | undefined>, now: number): number {
  const header = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const directives = new Map<string, string>();
  for (const part of (header('cache-control') ?? '').split(',')) {
    const [name, value = ''] = part.split('=', 2).map((text) => text.trim());
    if (name) directives.set(name.toLowerCase(), value.replace(/^"|"$/g, ''));
  }
  if (directives.has('no-store') || directives.has('no-cache')) return 0;
  const clamp = (ms: number) => Math.min(MAX_CACHE_MS, Math.max(MIN_CACHE_MS, ms));
  for (const name of ['s-maxage', 'max-age']) {
    const value = directives.get(name);
    // An invalid value makes the answer stale (RFC 9111 §1.2.2), which the lower bound then holds.
    if (value !== undefined) return clamp(/^\d+$/.test(value) ? Number(value) * 1000 : 0);
  }
  const expires = header('expires');
  if (expires !== undefined) {
    const date = Date.parse(header('date') ?? '');
    const until = Date.parse(expires);
    return clamp(Number.isNaN(until) ? 0 : until - (Number.isNaN(date) ? now : date));
  }
  return DEFAULT_CACHE_MS;
}
