import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import {
  type CryptoKey,
  createLocalJWKSet,
  decodeJwt,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { OAuth2Client, TokenEndpointAuthMethod } from '../client/model.js';
import { sha256Base64, sha256Hex } from '../crypto/keyring.js';
import { InvalidClientError, InvalidRequestError } from '../http/errors.js';
import { fetchJson } from '../http/outbound.js';
import { isUniqueViolation } from '../persistence/errors.js';
import type { Registry } from '../registry.js';
import { LruMap } from '../util/lru.js';
import { type FormBody, single } from './token-params.js';

/**
 * Client authentication at the token and revocation endpoints (RFC 6749 §2.3, RFC 7523 §2.2,
 * OpenID Connect Core §9), as Hydra accepts it:
 *
 * - `client_secret_basic`: `Authorization: Basic base64(id:secret)`, where id and secret are each
 *   `application/x-www-form-urlencoded` first (RFC 6749 §2.3.1), so they are form-decoded here;
 * - `client_secret_post`: `client_id` and `client_secret` in the form body;
 * - `private_key_jwt`: a JWT signed with one of the client's keys (`jwks`, or fetched from `jwks_uri`);
 * - `none`: public clients send only `client_id`.
 *
 * A client may only use the method it registered (`token_endpoint_auth_method`). Any failure to
 * authenticate is `invalid_client` (401), with `WWW-Authenticate: Basic` when Basic was tried
 * (RFC 6749 §5.2); a request that mixes methods is `invalid_request` (RFC 6749 §2.3).
 */

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Signing algorithms accepted for `private_key_jwt` when the client registered none. */
export const DEFAULT_ASSERTION_ALGS = ['RS256', 'RS384', 'RS512'] as const;

const BASIC_CHALLENGE = 'Basic realm="oauth2", charset="UTF-8"';

/** Verified secrets are remembered at most this many at a time (least recently used forgotten first). */
const MAX_VERIFIED_SECRETS = 1024;
/** A verified secret is verified again after this long at the latest. */
const VERIFIED_SECRET_MAX_AGE_MS = 10 * 60_000;
/** A `jwks_uri` answer is used for at most this long before it is fetched again. */
const JWKS_URI_MAX_AGE_MS = 5 * 60_000;
/** An assertion with an unknown key id refetches `jwks_uri`, but not more often than this. */
const JWKS_URI_REFETCH_COOLDOWN_MS = 1_000;
/** At most this many `jwks_uri` answers are kept. */
const MAX_JWKS_URIS = 256;
/** Expired rows of `used_jtis` are swept at most this often. */
const JTI_SWEEP_INTERVAL_MS = 60_000;

export async function authenticateClient(registry: Registry, request: FastifyRequest, body: FormBody): Promise<OAuth2Client> {
  const basic = parseBasic(request.headers.authorization);
  const bodyId = single(body, 'client_id');
  const bodySecret = single(body, 'client_secret');
  const assertionType = single(body, 'client_assertion_type');
  const assertion = single(body, 'client_assertion');
  const usesAssertion = assertionType !== undefined || assertion !== undefined;

  if (basic && (bodySecret !== undefined || usesAssertion)) {
    throw new InvalidRequestError('The client authenticated with both HTTP Basic and credentials in the body; use exactly one method.');
  }
  if (basic && bodyId !== undefined && basic.ok && bodyId !== basic.id) {
    throw new InvalidRequestError('The client_id in the body differs from the one in the HTTP Basic credentials.');
  }
  if (usesAssertion && bodySecret !== undefined) {
    throw new InvalidRequestError('The client sent both a client_secret and a client_assertion; use exactly one method.');
  }

  if (usesAssertion) return authenticateWithAssertion(registry, assertionType, assertion, bodyId);

  const fail = (hint: string) => {
    const error = new InvalidClientError(hint);
    return basic ? error.withHeader('www-authenticate', BASIC_CHALLENGE) : error;
  };
  let method: TokenEndpointAuthMethod;
  let clientId: string;
  let secret: string | undefined;
  if (basic) {
    if (!basic.ok) throw fail(basic.problem);
    method = 'client_secret_basic';
    clientId = basic.id;
    secret = basic.secret;
  } else if (bodyId !== undefined) {
    method = bodySecret === undefined ? 'none' : 'client_secret_post';
    clientId = bodyId;
    secret = bodySecret;
  } else if (bodySecret !== undefined) {
    throw fail('The request has a client_secret but no client_id.');
  } else {
    throw fail(
      'The request carries no client authentication: use HTTP Basic, client_id and client_secret in the body, or a client_assertion.',
    );
  }

  const stored = await registry.clients.find(clientId);
  if (!stored) throw fail('The requested OAuth 2.0 client does not exist.');
  const registered = stored.client.token_endpoint_auth_method;
  if (registered !== method) throw fail(methodMismatch(registered, method));
  if (method === 'none') return stored.client;
  if (!stored.secretHash || secret === undefined || !(await verifySecret(registry, clientId, secret, stored.secretHash))) {
    throw fail('The client secret is not valid.');
  }
  return stored.client;
}

function methodMismatch(registered: string, used: string): string {
  return `The OAuth 2.0 client is registered for client authentication method "${registered}", but the request used "${used}". Change the client's token_endpoint_auth_method to "${used}" to allow it.`;
}

type BasicCredentials = { ok: true; id: string; secret: string } | { ok: false; problem: string };

/** Basic credentials from the Authorization header; undefined when the header uses another scheme. */
function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (!header) return undefined;
  const match = /^basic(?:\s+(.*))?$/is.exec(header.trim());
  if (!match) return undefined;
  const encoded = (match[1] ?? '').trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return { ok: false, problem: 'The HTTP Basic credentials are not valid base64.' };
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return { ok: false, problem: 'The HTTP Basic credentials have no ":" between client id and secret.' };
  const id = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  if (id === undefined || secret === undefined) {
    return { ok: false, problem: 'The HTTP Basic client id or secret is not application/x-www-form-urlencoded.' };
  }
  if (id === '') return { ok: false, problem: 'The HTTP Basic credentials have an empty client id.' };
  return { ok: true, id, secret };
}

/** One `application/x-www-form-urlencoded` value: `+` is a space, `%XX` a byte of UTF-8. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Secrets

/**
 * PBKDF2 (or bcrypt) verification is deliberately slow, and the token endpoint is a hot path: a
 * client doing client_credentials repeatedly would pay it on every call. So successful
 * verifications are remembered, keyed by a keyed hash of (client id, presented secret, stored hash):
 *
 * - whether a secret matches a hash never changes, so an entry can only ever repeat a verdict the
 *   hasher would give again: the stored hash is part of the key, so a changed secret or a deleted
 *   client takes effect as soon as this node reads the client again (at once after its own writes,
 *   within `cache.ttl` after another node's, see ClientService.find);
 * - an entry lives at most VERIFIED_SECRET_MAX_AGE_MS, and at most MAX_VERIFIED_SECRETS entries
 *   exist (about 150 KB), the least recently used dropped first; `cache.ttl: 0` turns the cache off;
 * - only successes are remembered; the key is a SHA-256 over a per-process random key and the
 *   data, so memory holds no unkeyed hash of a secret;
 * - concurrent requests presenting the same credentials share one verification, so an expired entry
 *   costs one hash, not one per connection.
 */
class VerifiedSecrets {
  private readonly entries = new LruMap<string, number>(MAX_VERIFIED_SECRETS);
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly key = randomBytes(32).toString('base64');

  constructor(private readonly enabled: boolean) {}

  async verify(registry: Registry, clientId: string, secret: string, hash: string): Promise<boolean> {
    if (!this.enabled) return registry.hasher.verify(secret, hash);
    // SHA-256 over a per-process random key and the data: keyed, and a fraction of an HMAC's cost
    // (this runs on every authenticated request). Only a lookup key, never shown to anyone.
    const key = sha256Base64(this.key + JSON.stringify([clientId, secret, hash]));
    const until = this.entries.get(key);
    if (until !== undefined) {
      if (until > Date.now()) return true;
      this.entries.delete(key);
    }
    let verdict = this.pending.get(key);
    if (!verdict) {
      verdict = registry.hasher.verify(secret, hash).then((ok) => {
        if (ok) this.add(key);
        return ok;
      });
      const settled = verdict;
      this.pending.set(key, settled);
      settled.then(
        () => this.pending.delete(key),
        () => this.pending.delete(key),
      );
    }
    return verdict;
  }

  private add(key: string): void {
    this.entries.set(key, Date.now() + VERIFIED_SECRET_MAX_AGE_MS);
  }
}

function verifySecret(registry: Registry, clientId: string, secret: string, hash: string): Promise<boolean> {
  return stateOf(registry).secrets.verify(registry, clientId, secret, hash);
}

// ---------------------------------------------------------------------------------------------
// private_key_jwt (RFC 7523 §2.2 and §3)

async function authenticateWithAssertion(
  registry: Registry,
  assertionType: string | undefined,
  assertion: string | undefined,
  bodyId: string | undefined,
): Promise<OAuth2Client> {
  if (assertionType !== JWT_BEARER_ASSERTION_TYPE) {
    throw new InvalidRequestError(`The client_assertion_type must be "${JWT_BEARER_ASSERTION_TYPE}".`);
  }
  if (assertion === undefined) throw new InvalidRequestError('The "client_assertion" parameter is missing.');
  let unverified: JWTPayload;
  try {
    unverified = decodeJwt(assertion);
  } catch {
    throw new InvalidClientError('The client_assertion is not a well-formed JWT.');
  }
  const clientId = unverified.sub;
  if (typeof clientId !== 'string' || clientId === '') throw new InvalidClientError('The client_assertion has no "sub" claim.');
  if (unverified.iss !== clientId) {
    throw new InvalidClientError('The "iss" and "sub" claims of the client_assertion must both be the client id.');
  }
  if (bodyId !== undefined && bodyId !== clientId) {
    throw new InvalidClientError('The client_id parameter differs from the "sub" claim of the client_assertion.');
  }
  const stored = await registry.clients.find(clientId);
  if (!stored) throw new InvalidClientError('The requested OAuth 2.0 client does not exist.');
  const client = stored.client;
  if (client.token_endpoint_auth_method !== 'private_key_jwt') {
    throw new InvalidClientError(methodMismatch(client.token_endpoint_auth_method, 'private_key_jwt'));
  }

  const payload = await verifyAssertion(registry, client, assertion);
  const accepted = acceptedAudiences(registry);
  const audiences = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
  if (!audiences.some((aud) => typeof aud === 'string' && accepted.has(trimSlashes(aud)))) {
    throw new InvalidClientError(
      `The "aud" claim of the client_assertion must contain the token endpoint URL (${[...accepted][0]}) or the issuer.`,
    );
  }
  if (typeof payload.jti !== 'string' || payload.jti === '') throw new InvalidClientError('The client_assertion needs a "jti" claim.');
  await recordJti(registry, clientId, payload.jti, (payload.exp as number) * 1000);
  return client;
}

function trimSlashes(value: string): string {
  return value.replace(/\/+$/, '');
}

/** The token endpoint (under the public URL and under the issuer) and the issuer itself. */
function acceptedAudiences(registry: Registry): Set<string> {
  const { issuer, public: publicUrl } = registry.config.urls.self;
  return new Set([`${trimSlashes(publicUrl)}/oauth2/token`, `${trimSlashes(issuer)}/oauth2/token`, trimSlashes(issuer)]);
}

async function verifyAssertion(registry: Registry, client: OAuth2Client, assertion: string): Promise<JWTPayload> {
  const algorithms = client.token_endpoint_auth_signing_alg ? [client.token_endpoint_auth_signing_alg] : [...DEFAULT_ASSERTION_ALGS];
  const options = { algorithms, issuer: client.client_id, subject: client.client_id, requiredClaims: ['exp', 'jti'] };
  const ownKeys = client.jwks as Partial<JSONWebKeySet>;
  try {
    if (Array.isArray(ownKeys.keys) && ownKeys.keys.length > 0) {
      return await verifyWith(assertion, createLocalJWKSet(ownKeys as JSONWebKeySet), options);
    }
    if (!client.jwks_uri) throw new InvalidClientError('The client has neither jwks nor jwks_uri to verify its client_assertion.');
    const remote = stateOf(registry).jwks;
    try {
      return await verifyWith(assertion, await remote.get(registry, client.jwks_uri, false), options);
    } catch (error) {
      // A key the cached set does not know: the client may have rotated; look once more.
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
      return await verifyWith(assertion, await remote.get(registry, client.jwks_uri, true), options);
    }
  } catch (error) {
    throw assertionFailure(error);
  }
}

type VerifyOptions = { algorithms: string[]; issuer: string; subject: string; requiredClaims: string[] };

/** jwtVerify, trying each candidate key when several match the header (no `kid`). */
async function verifyWith(assertion: string, keys: JWTVerifyGetKey, options: VerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(assertion, keys, options)).payload;
  } catch (error) {
    if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys)) throw error;
    let last: unknown = error;
    for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
      try {
        return (await jwtVerify(assertion, key, options)).payload;
      } catch (attempt) {
        last = attempt;
        if (!(attempt instanceof joseErrors.JWSSignatureVerificationFailed)) break;
      }
    }
    throw last;
  }
}

function assertionFailure(error: unknown): Error {
  if (error instanceof InvalidClientError) return error;
  if (error instanceof joseErrors.JWTExpired) return new InvalidClientError('The client_assertion has expired.');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new InvalidClientError(`The client_assertion is not acceptable: the "${error.claim}" claim ${claimProblem(error)}.`);
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) {
    return new InvalidClientError('The client_assertion is signed with an algorithm this client may not use.');
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey) return new InvalidClientError('No key of the client matches the client_assertion.');
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new InvalidClientError('The signature of the client_assertion does not verify with the client’s keys.');
  }
  if (error instanceof joseErrors.JOSEError) return new InvalidClientError('The client_assertion could not be verified.', error.message);
  return error as Error;
}

function claimProblem(error: InstanceType<typeof joseErrors.JWTClaimValidationFailed>): string {
  return error.reason === 'missing' ? 'is missing' : 'is invalid';
}

/** Records a used assertion id until the assertion expires; a second use is a replay. */
async function recordJti(registry: Registry, clientId: string, jti: string, expiresAt: number): Promise<void> {
  const { db } = registry.database;
  const now = Date.now();
  // Scoped to the client (and to client assertions), so one client's ids never collide with another's.
  const hash = sha256Hex(`client_assertion\n${clientId}\n${jti}`);
  const state = stateOf(registry);
  if (now - state.lastJtiSweep > JTI_SWEEP_INTERVAL_MS) {
    state.lastJtiSweep = now;
    db.deleteFrom('used_jtis')
      .where('expires_at', '<=', now)
      .execute()
      .catch((error: unknown) => registry.logger.warn({ err: error }, 'could not sweep expired assertion ids'));
  }
  // An id whose earlier assertion has expired may be used again.
  await db.deleteFrom('used_jtis').where('jti_hash', '=', hash).where('expires_at', '<=', now).execute();
  try {
    await db.insertInto('used_jtis').values({ jti_hash: hash, expires_at: expiresAt }).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new InvalidClientError('The "jti" of this client_assertion was already used.');
    throw error;
  }
}

/** Key sets fetched from clients' `jwks_uri`, per URI, each for a bounded time. */
class JwksUriCache {
  private readonly entries = new Map<string, { keys: Promise<JWTVerifyGetKey>; fetchedAt: number }>();

  /** The key set of a URI; `refresh` refetches unless the cached one is younger than the cooldown. */
  get(registry: Registry, uri: string, refresh: boolean): Promise<JWTVerifyGetKey> {
    const now = Date.now();
    const hit = this.entries.get(uri);
    const age = hit ? now - hit.fetchedAt : Number.POSITIVE_INFINITY;
    if (hit && age < JWKS_URI_MAX_AGE_MS && (!refresh || age < JWKS_URI_REFETCH_COOLDOWN_MS)) return hit.keys;
    const keys = this.fetch(registry, uri);
    this.entries.delete(uri);
    this.entries.set(uri, { keys, fetchedAt: now });
    while (this.entries.size > MAX_JWKS_URIS) this.entries.delete(this.entries.keys().next().value as string);
    // A failed fetch is not kept beyond the cooldown: the next request after it tries again.
    keys.catch(() => {
      setTimeout(() => {
        if (this.entries.get(uri)?.keys === keys) this.entries.delete(uri);
      }, JWKS_URI_REFETCH_COOLDOWN_MS).unref();
    });
    return keys;
  }

  private async fetch(registry: Registry, uri: string): Promise<JWTVerifyGetKey> {
    const { disallow_private_ip_ranges, private_ip_exception_urls } = registry.config.clients.http;
    let document: unknown;
    try {
      document = await fetchJson(uri, {
        disallowPrivateIpRanges: disallow_private_ip_ranges,
        privateIpExceptionUrls: private_ip_exception_urls,
      });
    } catch (error) {
      throw new InvalidClientError('The client’s jwks_uri could not be fetched.', (error as Error).message);
    }
    try {
      return createLocalJWKSet(document as JSONWebKeySet);
    } catch {
      throw new InvalidClientError('The client’s jwks_uri does not hold a JSON Web Key Set.');
    }
  }
}

interface AuthState {
  secrets: VerifiedSecrets;
  jwks: JwksUriCache;
  lastJtiSweep: number;
}

const STATE = new WeakMap<Registry, AuthState>();

function stateOf(registry: Registry): AuthState {
  let state = STATE.get(registry);
  if (!state) {
    state = { secrets: new VerifiedSecrets(registry.config.cache.ttl > 0), jwks: new JwksUriCache(), lastJtiSweep: 0 };
    STATE.set(registry, state);
  }
  return state;
}
