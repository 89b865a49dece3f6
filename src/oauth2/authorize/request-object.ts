import { decodeProtectedHeader, type JWTPayload, errors as joseErrors, type ProtectedHeaderParameters, UnsecuredJWT } from 'jose';
import { SIGNING_ALGS } from '../../client/model.js';
import { outboundPolicy } from '../../client/remote-checks.js';
import type { StoredClient } from '../../client/repository.js';
import { HttpError, InvalidRequestError, InvalidRequestObjectError, InvalidRequestUriError } from '../../http/errors.js';
import { fetchText } from '../../http/outbound.js';
import { verifyWithClientKeys } from '../client-auth.js';
import type { AuthorizeRequestDeps } from '../deps.js';
import { FAPI2_SIGNING_ALGS, fapi2SigningAlgs } from '../fapi2.js';
import { RESOURCE } from '../resource.js';
import { parseScope } from '../scope.js';

/**
 * Request objects (OpenID Connect Core §6, RFC 9101) as Hydra (fosite) takes them: only in OpenID
 * Connect requests (the outer `scope` has `openid`; otherwise `request` and `request_uri` are
 * ignored; a pushed request's `request` counts whatever its scope), by value (`request`) or by reference (`request_uri`, one of the client's registered
 * `request_uris`), signed with one of the client's keys. The object's parameters win over the outer
 * ones; the outer scope values are kept in addition (fosite). Stricter than fosite: `alg: none` is
 * accepted only from a client that registered `request_object_signing_alg: none` (fosite accepts it
 * from any client that registered no algorithm), and the object's `client_id` and `response_type`,
 * when present, must equal the outer ones (RFC 9101 §5, OIDC Core §6.1).
 */

/** A request object larger than this is refused (whether sent by value or fetched). */
const MAX_REQUEST_OBJECT_BYTES = 64 * 1024;
const REQUEST_URI_TIMEOUT_MS = 5000;
/**
 * Claims never taken as parameters: those that describe the object itself, nested objects, and the
 * flow's own verifiers (which only the server hands out, in the outer query).
 */
const NOT_PARAMETERS: ReadonlySet<string> = new Set([
  'iss',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'request',
  'request_uri',
  'login_verifier',
  'consent_verifier',
]);
const ALGORITHMS: ReadonlySet<string> = new Set(SIGNING_ALGS);

/** The authorization request's parameters with its request object (if any) merged in. */
export async function resolveRequestObject(
  registry: AuthorizeRequestDeps,
  stored: StoredClient,
  params: Record<string, string>,
  options: { pushed?: boolean } = {},
): Promise<Record<string, string>> {
  const { request: byValue, request_uri: location, ...outer } = params;
  const outerScope = parseScope(params.scope);
  if ((!options.pushed && !outerScope.includes('openid')) || (!byValue && !location)) return params;
  if (byValue && location) {
    throw new InvalidRequestError("OpenID Connect parameters 'request' and 'request_uri' were both given, but you can use at most one.");
  }
  const { client } = stored;
  const ownKeys = (client.jwks as { keys?: unknown }).keys;
  if (!Array.isArray(ownKeys) && !client.jwks_uri) {
    throw new InvalidRequestError(
      "OpenID Connect 'request' or 'request_uri' context was given, but the OAuth 2.0 Client does not have any JSON Web Keys registered.",
    );
  }
  const jwt = location ? await fetchRequestObject(registry, stored, location) : (byValue as string);
  const claims = await verifyRequestObject(registry, stored, jwt);
  return mergeClaims(outer, outerScope, claims, options.pushed === true);
}

async function fetchRequestObject(registry: AuthorizeRequestDeps, stored: StoredClient, location: string): Promise<string> {
  if (!stored.client.request_uris.includes(location)) {
    throw new InvalidRequestUriError(`Request URI '${location}' is not whitelisted by the OAuth 2.0 Client.`);
  }
  try {
    const body = await fetchText(location, outboundPolicy(registry.config, stored), 'application/oauth-authz-req+jwt, application/jwt', {
      timeoutMs: REQUEST_URI_TIMEOUT_MS,
      maxBytes: MAX_REQUEST_OBJECT_BYTES,
      tracing: registry.tracing,
    });
    return body.trim();
  } catch (error) {
    // The reason (refused address, status, timeout) stays in the debug text: it describes the client's server.
    throw new InvalidRequestUriError(
      "Unable to fetch OpenID Connect request parameters from 'request_uri'.",
      error instanceof Error ? error.message : String(error),
    );
  }
}

async function verifyRequestObject(registry: AuthorizeRequestDeps, stored: StoredClient, jwt: string): Promise<JWTPayload> {
  if (jwt.length > MAX_REQUEST_OBJECT_BYTES) throw new InvalidRequestObjectError('The request object is too large.');
  if (jwt.split('.').length === 5) throw new InvalidRequestObjectError('Encrypted request objects (JWE) are not supported.');
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(jwt);
  } catch {
    throw new InvalidRequestObjectError("Unable to verify the request object's signature.", 'The request object is not a JWT.');
  }
  const alg = String(header.alg);
  const required = stored.client.request_object_signing_alg;
  if (required && required !== alg) {
    throw new InvalidRequestObjectError(
      `The request object uses signing algorithm '${alg}', but the requested OAuth 2.0 Client enforces signing algorithm '${required}'.`,
    );
  }
  if (fapi2SigningAlgs(registry, stored.client, [alg]).length === 0) {
    throw new InvalidRequestObjectError(
      `The FAPI 2.0 Security Profile requires request objects signed with ${FAPI2_SIGNING_ALGS.join(', ')}.`,
    );
  }
  try {
    if (alg === 'none') {
      if (required !== 'none') {
        throw new InvalidRequestObjectError(
          "The request object is unsigned (alg 'none'), which the OAuth 2.0 Client did not register as its request_object_signing_alg.",
        );
      }
      return UnsecuredJWT.decode(jwt).payload;
    }
    if (!ALGORITHMS.has(alg)) throw new InvalidRequestObjectError(`This request object uses unsupported signing algorithm '${alg}'.`);
    return await verifyWithClientKeys(registry, stored, jwt, header, { algorithms: [alg] });
  } catch (error) {
    if (error instanceof HttpError) throw error;
    if (error instanceof joseErrors.JWTExpired || error instanceof joseErrors.JWTClaimValidationFailed) {
      throw new InvalidRequestObjectError(
        'Unable to verify the request object because its claims could not be validated, check if the expiry time is set correctly.',
        error.message,
      );
    }
    throw new InvalidRequestObjectError("Unable to verify the request object's signature.", error instanceof Error ? error.message : '');
  }
}

/**
 * The object's parameters over the outer ones; scope is the union of both (fosite). A pushed
 * request needs no outer `response_type` (RFC 9101 §4 asks only for `client_id` outside the object;
 * OIDC Core §6.1's duplicate is for the authorization endpoint).
 */
function mergeClaims(outer: Record<string, string>, outerScope: string[], claims: JWTPayload, pushed: boolean): Record<string, string> {
  for (const name of ['client_id', 'response_type'] as const) {
    const inner = claims[name];
    if (pushed && name === 'response_type' && outer[name] === undefined) continue;
    if (inner !== undefined && inner !== outer[name]) {
      throw new InvalidRequestObjectError(`The "${name}" of the request object differs from the "${name}" parameter of the request.`);
    }
  }
  const merged = { ...outer };
  for (const [name, value] of Object.entries(claims)) {
    if (NOT_PARAMETERS.has(name) || value === undefined || value === null) continue;
    // A repeatable parameter (RFC 8707 `resource`) may be an array of strings: kept as the outer query keeps it, joined by spaces.
    if (name === RESOURCE && Array.isArray(value) && value.every((item) => typeof item === 'string')) merged[name] = value.join(' ');
    else merged[name] = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  const scope = parseScope(merged.scope);
  for (const value of outerScope) if (!scope.includes(value)) scope.push(value);
  merged.scope = scope.join(' ');
  return merged;
}
