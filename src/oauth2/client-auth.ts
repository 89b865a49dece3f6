import type { FastifyRequest } from 'fastify';
import {
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  type JWK,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
  type ProtectedHeaderParameters,
} from 'jose';
import type { OAuth2Client, TokenEndpointAuthMethod } from '../client/model.js';
import { outboundPolicy } from '../client/remote-checks.js';
import type { StoredClient } from '../client/repository.js';
import { issuerUrl, publicUrl, withoutTrailingSlashes } from '../config/urls.js';
import { parseBasicCredentials } from '../http/basic-credentials.js';
import { InvalidClientError, InvalidRequestError } from '../http/errors.js';
import { AssertionKeysError } from './client-auth-state.js';
import type { ClientAuthDeps, ClientKeysDeps } from './deps.js';
import { checkFapi2AssertionAudience, checkFapi2ClientAuthentication, fapi2DefaultSigningAlgs, fapi2SigningAlgs } from './fapi2.js';
import { type FormBody, single } from './token-params.js';

/**
 * Client authentication at the token, revocation and pushed authorization request endpoints (RFC 6749 §2.3, RFC 7523 §2.2,
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
 *
 * What a refusal tells: until the caller has proven it holds the client's credential, every refusal
 * after the client lookup (unknown client, wrong secret, another method, a key or signature that does
 * not verify, a jwks_uri that cannot be used) is the same bare `invalid_client` body, fosite's
 * generic description without a hint, as Hydra answers an unknown client or a wrong secret; the
 * reason goes to the debug text (`oauth2.expose_internal_errors`). A refusal with no secret to check
 * spends a check against a dummy hash, so that timing does not tell an unknown client either.
 * Hydra names the registered method to anyone; here only a caller whose secret verified learns it.
 */

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Signing algorithms accepted for `private_key_jwt` when the client registered none. */
export const DEFAULT_ASSERTION_ALGS = ['RS256', 'RS384', 'RS512'] as const;

const BASIC_CHALLENGE = 'Basic realm="oauth2", charset="UTF-8"';

/**
 * At most this many of a client's keys are tried for one assertion (fosite tries only the first
 * that fits): more would let a client with thousands of kid-less keys spend seconds of CPU per request.
 */
export const MAX_ASSERTION_KEY_CANDIDATES = 5;
/** How far in the future an assertion's `iat` may lie (clock skew), as go-jose's default leeway. */
const IAT_LEEWAY_S = 60;

export async function authenticateClient(registry: ClientAuthDeps, request: FastifyRequest, body: FormBody): Promise<OAuth2Client> {
  const client = await authenticateWithRegisteredMethod(registry, request, body);
  checkFapi2ClientAuthentication(registry, client);
  return client;
}

async function authenticateWithRegisteredMethod(registry: ClientAuthDeps, request: FastifyRequest, body: FormBody): Promise<OAuth2Client> {
  const basic = parseBasicCredentials(request.headers.authorization);
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

  const fail = (hint: string, debug = '') => {
    const error = new InvalidClientError(hint, debug);
    return basic ? error.withHeader('www-authenticate', BASIC_CHALLENGE) : error;
  };
  let method: TokenEndpointAuthMethod;
  let clientId: string;
  let secret: string | undefined;
  if (basic) {
    if (!basic.ok) {
      // fosite: a part that does not form-url-decode is a malformed request, not a failed authentication.
      if (basic.failure === 'undecodable') throw new InvalidRequestError(basic.problem);
      throw fail(basic.problem);
    }
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
  const registered = stored?.client.token_endpoint_auth_method;
  if (stored && registered === method && method === 'none') return stored.client;
  const secretOk = secret !== undefined && (await checkSecret(registry, stored, secret));
  if (stored && registered === method && secretOk) return stored.client;
  if (!stored) throw fail('', unknownClient(registry, clientId));
  if (registered === method) throw fail('', 'The client secret is not valid.');
  // The caller proved it holds the secret: tell it what to change (Hydra's hint). Otherwise the
  // registered method stays unsaid.
  if (secretOk) throw fail(methodMismatch(registered as string, method));
  throw fail('', methodMismatch(registered as string, method));
}

/**
 * Whether `secret` is the client's: its current secret or one of its rotated secrets, newest first
 * (as fosite tries them). Only the hashes stored now are asked about, so a verified-secret cache
 * entry for a rotated secret that was since deleted is never consulted. Without a stored hash
 * (unknown or public client) it is checked against a dummy hash and refused, costing what a real
 * check costs.
 */
async function checkSecret(registry: ClientAuthDeps, stored: StoredClient | undefined, secret: string): Promise<boolean> {
  if (!stored?.secretHash) {
    await registry.clientAuth.spendSecretCheck(registry.hasher, secret);
    return false;
  }
  for (const hash of [stored.secretHash, ...(stored.rotatedSecretHashes ?? [])]) {
    if (await registry.clientAuth.secrets.verify(registry, stored.client.client_id, secret, hash)) return true;
  }
  return false;
}

/** The debug text of an unknown client: why its client ID metadata document was refused, when it was one. */
function unknownClient(registry: ClientAuthDeps, clientId: string): string {
  const unresolved = registry.clients.unresolved(clientId);
  return unresolved ? `${unresolved.hint} ${unresolved.debug}`.trim() : 'The requested OAuth 2.0 client does not exist.';
}

function methodMismatch(registered: string, used: string): string {
  return `The OAuth 2.0 client is registered for client authentication method "${registered}", but the request used "${used}". Change the client's token_endpoint_auth_method to "${used}" to allow it.`;
}

// ---------------------------------------------------------------------------------------------
// private_key_jwt (RFC 7523 §2.2 and §3)

async function authenticateWithAssertion(
  registry: ClientAuthDeps,
  assertionType: string | undefined,
  assertion: string | undefined,
  bodyId: string | undefined,
): Promise<OAuth2Client> {
  if (assertionType !== JWT_BEARER_ASSERTION_TYPE) {
    throw new InvalidRequestError(`The client_assertion_type must be "${JWT_BEARER_ASSERTION_TYPE}".`);
  }
  if (assertion === undefined) throw new InvalidRequestError('The "client_assertion" parameter is missing.');
  let unverified: JWTPayload;
  let header: ProtectedHeaderParameters;
  try {
    unverified = decodeJwt(assertion);
    header = decodeProtectedHeader(assertion);
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
  if (!stored) throw new InvalidClientError('', unknownClient(registry, clientId));
  const client = stored.client;
  if (client.token_endpoint_auth_method !== 'private_key_jwt') {
    throw new InvalidClientError('', methodMismatch(client.token_endpoint_auth_method, 'private_key_jwt'));
  }

  const payload = await verifyAssertion(registry, stored, assertion, header);
  // From here on the caller has proven it holds the client's key: refusals say what is wrong.
  checkFapi2AssertionAudience(registry, client, payload.aud);
  const accepted = acceptedAudiences(registry);
  const audiences = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
  if (!audiences.some((aud) => typeof aud === 'string' && accepted.has(withoutTrailingSlashes(aud)))) {
    throw new InvalidClientError(
      `The "aud" claim of the client_assertion must contain the token endpoint URL (${[...accepted][0]}) or the issuer.`,
    );
  }
  checkAssertionLifetime(payload, registry.config.oauth2.grant.jwt.max_ttl);
  if (typeof payload.jti !== 'string' || payload.jti === '') throw new InvalidClientError('The client_assertion needs a "jti" claim.');
  if (!(await registry.usedJtis.use(`client_assertion\n${clientId}`, payload.jti, (payload.exp as number) * 1000))) {
    throw new InvalidClientError('The "jti" of this client_assertion was already used.');
  }
  return client;
}

/**
 * `oauth2.grant.jwt.max_ttl` as fosite applies it to JWT-bearer grants: `exp` may lie at most that
 * long after `iat`, or after now without `iat`; an `iat` in the future (beyond clock skew) cannot
 * stretch the window. So an assertion is replayable, and its `jti` stored, for a bounded time.
 */
function checkAssertionLifetime(payload: JWTPayload, maxTtlMs: number): void {
  const now = Math.floor(Date.now() / 1000);
  const iat = typeof payload.iat === 'number' ? payload.iat : undefined;
  if (iat !== undefined && iat > now + IAT_LEEWAY_S)
    throw new InvalidClientError('The "iat" claim of the client_assertion lies in the future.');
  if ((payload.exp as number) - (iat ?? now) > maxTtlMs / 1000) {
    throw new InvalidClientError(
      `The "exp" claim of the client_assertion is unreasonably far in the future: at most ${Math.floor(maxTtlMs / 1000)} seconds after its "iat" are allowed.`,
    );
  }
}

/**
 * The token endpoint (under the public URL and under the issuer), the issuer itself, and the pushed
 * authorization request endpoint, which RFC 9126 §2 requires to be accepted there: an assertion
 * names the server it is for, and all of these name this one (its `jti` is single-use whichever).
 */
function acceptedAudiences(registry: ClientAuthDeps): Set<string> {
  const { config } = registry;
  return new Set([
    publicUrl(config, '/oauth2/token'),
    issuerUrl(config, '/oauth2/token'),
    issuerUrl(config, ''),
    publicUrl(config, '/oauth2/par'),
    issuerUrl(config, '/oauth2/par'),
  ]);
}

type VerifyOptions = { algorithms: string[]; issuer?: string; subject?: string; requiredClaims?: string[] };

async function verifyAssertion(
  registry: ClientAuthDeps,
  stored: StoredClient,
  assertion: string,
  header: ProtectedHeaderParameters,
): Promise<JWTPayload> {
  const client = stored.client;
  const algorithms = client.token_endpoint_auth_signing_alg
    ? fapi2SigningAlgs(registry, client, [client.token_endpoint_auth_signing_alg])
    : fapi2DefaultSigningAlgs(registry, client, DEFAULT_ASSERTION_ALGS);
  const options: VerifyOptions = { algorithms, issuer: client.client_id, subject: client.client_id, requiredClaims: ['exp', 'jti'] };
  try {
    if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
      throw new AssertionKeysError(
        `The client_assertion is signed with "${String(header.alg)}"; this client may use ${algorithms.join(', ')}.`,
      );
    }
    return await verifyWithClientKeys(registry, stored, assertion, header, options);
  } catch (error) {
    throw assertionFailure(error);
  }
}

/**
 * Verifies a JWT the client signed (a client_assertion, a request object) with its registered keys:
 * `jwks` if it has any, else its `jwks_uri` (cached; fetched once more when no key fits, as the
 * client may have rotated). Throws AssertionKeysError or jose's errors.
 */
export async function verifyWithClientKeys(
  registry: ClientKeysDeps,
  stored: StoredClient,
  jwt: string,
  header: ProtectedHeaderParameters,
  options: VerifyOptions,
): Promise<JWTPayload> {
  const client = stored.client;
  const ownKeys = (client.jwks as { keys?: unknown }).keys;
  if (Array.isArray(ownKeys) && ownKeys.length > 0) {
    return verifyWithCandidates(jwt, header, candidateKeys(ownKeys as JWK[], header), options);
  }
  if (!client.jwks_uri) throw new AssertionKeysError('The client has neither jwks nor jwks_uri to verify its JWT.');
  const remote = registry.clientAuth.jwks;
  const policy = outboundPolicy(registry.config, stored);
  const cached = await remote.get(registry.config, client.jwks_uri, policy, false);
  const fitting = candidateKeys(cached, header);
  if (fitting.length > 0) return verifyWithCandidates(jwt, header, fitting, options);
  const refetched = await remote.get(registry.config, client.jwks_uri, policy, true);
  return verifyWithCandidates(jwt, header, candidateKeys(refetched, header), options);
}

/** Verifies with the candidate keys `candidateKeys` chose, in order; none verifying is one refusal. */
async function verifyWithCandidates(assertion: string, header: ProtectedHeaderParameters, candidates: JWK[], options: VerifyOptions) {
  if (candidates.length === 0) throw new AssertionKeysError('No key of the client fits the JWT’s header.');
  for (const jwk of candidates) {
    let key: Awaited<ReturnType<typeof importJWK>>;
    try {
      key = await importJWK(jwk, header.alg);
    } catch {
      continue;
    }
    try {
      return (await jwtVerify(assertion, key, options)).payload;
    } catch (error) {
      if (!(error instanceof joseErrors.JWSSignatureVerificationFailed)) throw error;
    }
  }
  throw new AssertionKeysError(`The signature of the JWT does not verify with the ${candidates.length} key(s) tried.`);
}

/**
 * The keys of a set that could have signed an assertion with this header (its `kid` if it names one,
 * its `alg`, the key's `kty`, `crv`, `alg`, `use` and `key_ops`): at most MAX_ASSERTION_KEY_CANDIDATES,
 * in the set's order.
 */
function candidateKeys(keys: readonly JWK[], header: ProtectedHeaderParameters): JWK[] {
  const found: JWK[] = [];
  for (const jwk of keys) {
    if (found.length === MAX_ASSERTION_KEY_CANDIDATES) break;
    if (header.kid !== undefined && jwk.kid !== header.kid) continue;
    if (keyFits(jwk, header.alg as string)) found.push(jwk);
  }
  return found;
}

const CURVES: Record<string, readonly string[]> = { ES256: ['P-256'], ES384: ['P-384'], ES512: ['P-521'], EdDSA: ['Ed25519', 'Ed448'] };

/** True when a JWK may verify a signature made with `alg` (RFC 7517 §4, RFC 7518 §3). */
function keyFits(jwk: JWK, alg: string): boolean {
  if (typeof jwk !== 'object' || jwk === null) return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return false;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return jwk.kty === 'RSA';
  const curves = CURVES[alg];
  return curves !== undefined && (jwk.kty === 'EC' || jwk.kty === 'OKP') && curves.includes(jwk.crv as string);
}

/**
 * The answer for a failed verification. Failures before the signature verified (no usable key, a
 * bad signature, a disallowed algorithm, a jwks_uri that could not be fetched or holds no usable
 * set) are all the bare invalid_client: the caller has not shown it is the client, and telling them
 * apart would tell what the client's jwks_uri answers. Claim failures after it verified say which.
 */
function assertionFailure(error: unknown): Error {
  if (error instanceof InvalidClientError) return error;
  if (error instanceof joseErrors.JWTExpired) return new InvalidClientError('The client_assertion has expired.');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new InvalidClientError(`The client_assertion is not acceptable: the "${error.claim}" claim ${claimProblem(error)}.`);
  }
  if (error instanceof AssertionKeysError || error instanceof joseErrors.JOSEError) return new InvalidClientError('', error.message);
  return error as Error;
}

function claimProblem(error: InstanceType<typeof joseErrors.JWTClaimValidationFailed>): string {
  return error.reason === 'missing' ? 'is missing' : 'is invalid';
}
