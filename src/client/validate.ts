import { randomUUID } from 'node:crypto';
import { formatDuration, parseDuration } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import { InvalidClientMetadataError, InvalidRedirectUriError } from '../http/errors.js';
import { audienceMatcher } from '../oauth2/audience.js';
import { FAPI2_SIGNING_ALGS } from '../oauth2/fapi2.js';
import { scopeMatcher } from '../oauth2/scope.js';
import { sectorIdentifier } from '../oauth2/subject.js';
import { spaceSeparated, whitespaceSeparated } from '../util/space-separated.js';
import {
  type ClientInput,
  effectiveGrantTypes,
  GRANT_TYPES,
  type JsonWebKeySet,
  LIFESPAN_FIELDS,
  type Lifespans,
  type OAuth2Client,
  SIGNING_ALGS,
  TOKEN_ENDPOINT_AUTH_METHODS,
  type TokenEndpointAuthMethod,
} from './model.js';

export interface NormalizeContext {
  config: Config;
  now: Date;
  /** The stored client an update replaces: keeps its id and creation time. */
  existing?: OAuth2Client;
}

const RESPONSE_TYPE_PARTS: ReadonlySet<string> = new Set(['code', 'id_token', 'token']);
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const REQUEST_OBJECT_ALGS = ['none', ...SIGNING_ALGS];
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];
/**
 * Schemes a redirect URI may never use: script (`javascript:`, `vbscript:`), inline documents
 * (`data:`, `blob:`, `filesystem:`) and local files. Private-use schemes of native apps
 * (`com.example.app:/cb`, RFC 8252 §7.1) stay allowed, so this is a list of the forbidden ones.
 */
const FORBIDDEN_REDIRECT_SCHEMES: ReadonlySet<string> = new Set(['javascript:', 'vbscript:', 'data:', 'blob:', 'filesystem:', 'file:']);

/** The list fields of a client, each bounded by `clients.limits.max_list_items`. */
const LIST_FIELDS = [
  'redirect_uris',
  'post_logout_redirect_uris',
  'request_uris',
  'grant_types',
  'response_types',
  'audience',
  'contacts',
  'allowed_cors_origins',
] as const;
/** The string fields of a client bounded by `clients.limits.max_string_length` (`client_name` has its own bound). */
const STRING_FIELDS = [
  'owner',
  'policy_uri',
  'tos_uri',
  'client_uri',
  'logo_uri',
  'subject_type',
  'sector_identifier_uri',
  'jwks_uri',
  'token_endpoint_auth_method',
  'token_endpoint_auth_signing_alg',
  'request_object_signing_alg',
  'userinfo_signed_response_alg',
  'frontchannel_logout_uri',
  'backchannel_logout_uri',
  'access_token_strategy',
] as const;

/**
 * Turns a client from a request into a complete, valid client with Hydra's defaults, or throws
 * `invalid_client_metadata` / `invalid_redirect_uri` naming the field at fault.
 */
export function normalizeClient(input: ClientInput, context: NormalizeContext): OAuth2Client {
  const { config, now, existing } = context;
  const invalid = (hint: string) => new InvalidClientMetadataError(hint);
  // First, before any per-item work: every later check is then bounded by the limits.
  checkBounds(input, config);

  const clientId = existing?.client_id ?? (input.client_id || randomUUID());
  if (existing && input.client_id && input.client_id !== existing.client_id) {
    throw invalid('Field client_id can not be changed.');
  }
  if ([...clientId].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)) {
    throw invalid('Field client_id must not contain control characters.');
  }

  const method = (input.token_endpoint_auth_method || 'client_secret_basic') as TokenEndpointAuthMethod;
  if (!TOKEN_ENDPOINT_AUTH_METHODS.includes(method)) {
    throw invalid(`Field token_endpoint_auth_method must be one of ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}.`);
  }

  const redirectUris = list(input.redirect_uris);
  // Each redirect URI parsed once; post-logout URIs are then checked against this set of origins.
  const redirectOrigins = new Set(redirectUris.map((uri) => originOf(checkRedirectUri(uri, 'redirect_uris'))));

  const grantTypes = list(input.grant_types);
  for (const grant of grantTypes) {
    if (!(GRANT_TYPES as readonly string[]).includes(grant)) throw invalid(`Grant type "${grant}" is not supported.`);
  }

  const responseTypes = list(input.response_types);
  for (const type of responseTypes) {
    const parts = type.split(' ');
    if (parts.some((part) => !RESPONSE_TYPE_PARTS.has(part)) || new Set(parts).size !== parts.length) {
      throw invalid(`Response type "${type}" is not supported.`);
    }
  }

  const scope = whitespaceSeparated(input.scope);
  const bad = scope.find((token) => !SCOPE_TOKEN.test(token));
  if (bad !== undefined) throw invalid(`Scope "${bad}" contains characters not allowed in a scope.`);

  const supportedSubjects = config.oidc.subject_identifiers.supported_types;
  const subjectType = input.subject_type || (supportedSubjects.includes('public') ? 'public' : (supportedSubjects[0] as string));
  if (!supportedSubjects.includes(subjectType)) {
    throw invalid(`Subject type "${subjectType}" is not supported by this server, use one of ${supportedSubjects.join(', ')}.`);
  }

  const sectorIdentifierUri = input.sector_identifier_uri ?? '';
  if (sectorIdentifierUri && !isUrl(sectorIdentifierUri, ['https:']) && !(config.dev && isLoopbackHttpUrl(sectorIdentifierUri))) {
    throw invalid('Field sector_identifier_uri must be an https URL.');
  }
  checkPairwiseSector(subjectType, sectorIdentifierUri, redirectUris);

  const jwks = normalizeJwks(input.jwks);
  const jwksUri = input.jwks_uri ?? '';
  if (jwksUri && !isUrl(jwksUri, ['https:', 'http:'])) throw invalid('Field jwks_uri must be an http(s) URL.');
  if (jwksUri && jwks) throw invalid('Fields jwks and jwks_uri are mutually exclusive, set only one of them.');
  if (method === 'private_key_jwt' && !jwksUri && !jwks) {
    throw invalid('Token endpoint auth method private_key_jwt needs either jwks or jwks_uri.');
  }

  const authSigningAlg = input.token_endpoint_auth_signing_alg ?? '';
  if (authSigningAlg && !(SIGNING_ALGS as readonly string[]).includes(authSigningAlg)) {
    throw invalid(`Field token_endpoint_auth_signing_alg must be one of ${SIGNING_ALGS.join(', ')}.`);
  }
  if (input.fapi2_security_profile === true) checkFapi2Metadata(method, authSigningAlg);
  const userinfoAlg = input.userinfo_signed_response_alg || 'none';
  if (userinfoAlg !== 'none' && userinfoAlg !== 'RS256') {
    throw invalid('Field userinfo_signed_response_alg must be none or RS256.');
  }
  // Hydra has no per-client ID token algorithm: every ID token is signed with the server's
  // hydra.openid.id-token key (RS256). A client asking for another, or for none (OpenID Connect
  // Registration §2), is refused rather than silently given RS256; Hydra ignores the field.
  const idTokenAlg = (input as { id_token_signed_response_alg?: unknown }).id_token_signed_response_alg;
  if (idTokenAlg !== undefined && idTokenAlg !== null && idTokenAlg !== '' && idTokenAlg !== 'RS256') {
    throw invalid('Field id_token_signed_response_alg must be RS256: ID tokens are signed with the server key, RS256.');
  }
  const requestObjectAlg = input.request_object_signing_alg ?? '';
  if (requestObjectAlg && !REQUEST_OBJECT_ALGS.includes(requestObjectAlg)) {
    throw invalid(`Field request_object_signing_alg must be one of ${REQUEST_OBJECT_ALGS.join(', ')}.`);
  }

  const requestUris = list(input.request_uris);
  for (const uri of requestUris) if (!isUrl(uri, ['https:', 'http:'])) throw invalid(`Request URI "${uri}" must be an http(s) URL.`);

  const postLogout = list(input.post_logout_redirect_uris);
  for (const uri of postLogout) {
    if (!redirectOrigins.has(originOf(checkRedirectUri(uri, 'post_logout_redirect_uris')))) {
      throw invalid(
        `Post logout redirect URI "${uri}" must match the scheme, host and port of at least one of the registered redirect URIs.`,
      );
    }
  }

  const origins = list(input.allowed_cors_origins).map((origin) => normalizeOrigin(origin));

  for (const field of ['policy_uri', 'tos_uri', 'client_uri', 'logo_uri', 'frontchannel_logout_uri', 'backchannel_logout_uri'] as const) {
    const value = input[field];
    if (value && !isUrl(value, ['https:', 'http:'])) throw invalid(`Field ${field} must be an http(s) URL.`);
  }
  // OIDC Front- and Back-Channel Logout 1.0 §2: logout URIs must not carry a fragment.
  for (const field of ['frontchannel_logout_uri', 'backchannel_logout_uri'] as const) {
    if (input[field]?.includes('#')) throw invalid(`Field ${field} must not contain a fragment (#).`);
  }

  const metadata = input.metadata ?? {};
  if (typeof metadata !== 'object' || Array.isArray(metadata)) throw invalid('Field metadata must be a JSON object.');

  const strategy = input.access_token_strategy ?? '';
  if (strategy !== '' && strategy !== 'jwt' && strategy !== 'opaque') {
    throw invalid('Field access_token_strategy must be jwt or opaque.');
  }

  const timestamp = rfc3339(now);
  return {
    client_id: clientId,
    client_name: input.client_name ?? '',
    redirect_uris: redirectUris,
    grant_types: grantTypes,
    response_types: responseTypes.length > 0 ? responseTypes : ['code'],
    scope: scope.length > 0 ? scope.join(' ') : config.oidc.dynamic_client_registration.default_scope.join(' '),
    audience: list(input.audience),
    owner: input.owner ?? '',
    policy_uri: input.policy_uri ?? '',
    tos_uri: input.tos_uri ?? '',
    client_uri: input.client_uri ?? '',
    logo_uri: input.logo_uri ?? '',
    contacts: list(input.contacts),
    allowed_cors_origins: origins,
    client_secret_expires_at: 0,
    subject_type: subjectType,
    sector_identifier_uri: sectorIdentifierUri,
    jwks: jwks ?? {},
    jwks_uri: jwksUri,
    token_endpoint_auth_method: method,
    token_endpoint_auth_signing_alg: authSigningAlg,
    request_uris: requestUris,
    request_object_signing_alg: requestObjectAlg,
    userinfo_signed_response_alg: userinfoAlg,
    frontchannel_logout_uri: input.frontchannel_logout_uri ?? '',
    frontchannel_logout_session_required: input.frontchannel_logout_session_required ?? false,
    backchannel_logout_uri: input.backchannel_logout_uri ?? '',
    backchannel_logout_session_required: input.backchannel_logout_session_required ?? false,
    post_logout_redirect_uris: postLogout,
    metadata: metadata as Record<string, unknown>,
    access_token_strategy: strategy,
    skip_consent: input.skip_consent ?? false,
    skip_logout_consent: input.skip_logout_consent ?? false,
    require_pushed_authorization_requests: input.require_pushed_authorization_requests ?? false,
    ...(input.dpop_bound_access_tokens === true ? { dpop_bound_access_tokens: true as const } : {}),
    ...(input.fapi2_security_profile === true ? { fapi2_security_profile: true as const } : {}),
    ...normalizeLifespans(input, config),
    created_at: existing?.created_at ?? timestamp,
    updated_at: timestamp,
  };
}

/** Validates and normalizes the 13 lifespan fields (`60m` → `1h0m0s`). */
export function normalizeLifespans(input: Partial<Record<string, unknown>>, config: Config): Lifespans {
  const max = config.clients.limits.max_lifespan;
  const out = {} as Lifespans;
  for (const field of LIFESPAN_FIELDS) {
    const value = input[field];
    if (value === undefined || value === null || value === '') {
      out[field] = null;
      continue;
    }
    const ms = typeof value === 'string' ? parseDuration(value) : undefined;
    if (ms === undefined || ms < 0) {
      throw new InvalidClientMetadataError(`Field ${field} must be a duration such as 1h30m or 45s.`);
    }
    // Refused rather than read as the default: tokens minted with a lifespan of 0 used to carry no
    // expiry at all, and a client that asks for 0 should learn that it does not get "never". Token
    // times are whole seconds, so anything shorter than 1s would expire as it is issued.
    if (ms < 1000 || ms > max) {
      throw new InvalidClientMetadataError(
        `Field ${field} must be between 1s and ${formatDuration(max)} (clients.limits.max_lifespan); a client lifespan never means "never expires".`,
      );
    }
    out[field] = formatDuration(ms);
  }
  return out;
}

/**
 * What a self-registered client may register (`oidc.dynamic_client_registration.allowed_*`): scopes
 * matched by the scope strategy (the default scope always allowed), audiences as requested
 * audiences are matched, and grant types. Hydra has no such policy: with its defaults anyone who can
 * register can mint client_credentials tokens for any scope and audience.
 */
export function checkRegistrationPolicy(client: OAuth2Client, config: Config): void {
  const policy = config.oidc.dynamic_client_registration;
  const allowsScope = scopeMatcher(config.strategies.scope, [...policy.allowed_scopes, ...policy.default_scope]);
  const scope = spaceSeparated(client.scope).find((token) => !allowsScope(token));
  if (scope !== undefined) {
    throw new InvalidClientMetadataError(
      `Scope "${scope}" cannot be registered through dynamic client registration (oidc.dynamic_client_registration.allowed_scopes).`,
    );
  }
  const allowsAudience = audienceMatcher(policy.allowed_audiences);
  const audience = client.audience.find((value) => !allowsAudience(value));
  if (audience !== undefined) {
    throw new InvalidClientMetadataError(
      `Audience "${audience}" cannot be registered through dynamic client registration (oidc.dynamic_client_registration.allowed_audiences).`,
    );
  }
  const grant = effectiveGrantTypes(client).find((type) => !policy.allowed_grant_types.includes(type));
  if (grant !== undefined) {
    throw new InvalidClientMetadataError(
      `Grant type "${grant}" cannot be registered through dynamic client registration (oidc.dynamic_client_registration.allowed_grant_types).`,
    );
  }
}

/** Second-precision UTC, as Hydra prints client timestamps. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function list(value: string[] | null | undefined): string[] {
  return (value ?? []).filter((item) => item !== '');
}

/**
 * The counts and sizes of everything a client holds (`clients.limits.*`, `clients.jwks.max_keys`),
 * checked before anything is parsed: a client is read on every request that names it, and its lists
 * are matched against what requests ask for.
 */
function checkBounds(input: ClientInput, config: Config): void {
  const limits = config.clients.limits;
  const tooLong = (field: string, max: number) =>
    new InvalidClientMetadataError(`A value of field ${field} is longer than ${max} characters (clients.limits).`);
  for (const field of LIST_FIELDS) {
    const values = input[field] ?? [];
    if (values.length > limits.max_list_items) {
      throw new InvalidClientMetadataError(
        `Field ${field} holds more than ${limits.max_list_items} entries (clients.limits.max_list_items).`,
      );
    }
    if (values.some((value) => value.length > limits.max_string_length)) throw tooLong(field, limits.max_string_length);
  }
  for (const field of STRING_FIELDS) {
    if ((input[field]?.length ?? 0) > limits.max_string_length) throw tooLong(field, limits.max_string_length);
  }
  if ((input.client_name?.length ?? 0) > limits.max_client_name_length) throw tooLong('client_name', limits.max_client_name_length);
  const scopes = whitespaceSeparated(input.scope);
  if (scopes.length > limits.max_scopes) {
    throw new InvalidClientMetadataError(`Field scope holds more than ${limits.max_scopes} scopes (clients.limits.max_scopes).`);
  }
  if (scopes.some((scope) => scope.length > limits.max_string_length)) throw tooLong('scope', limits.max_string_length);
  if (input.metadata !== undefined && Buffer.byteLength(JSON.stringify(input.metadata) ?? '') > limits.max_metadata_bytes) {
    throw new InvalidClientMetadataError(
      `Field metadata is larger than ${limits.max_metadata_bytes} bytes of JSON (clients.limits.max_metadata_bytes).`,
    );
  }
  const keys = (input.jwks as { keys?: unknown } | null | undefined)?.keys;
  if (Array.isArray(keys) && keys.length > config.clients.jwks.max_keys) {
    throw new InvalidClientMetadataError(`Field jwks holds more than ${config.clients.jwks.max_keys} keys (clients.jwks.max_keys).`);
  }
}

/**
 * OpenID Connect Core §8.1: a pairwise client whose redirect URIs span several hosts must register a
 * `sector_identifier_uri`, or the sector would be whichever host is listed first (a client listing
 * another app's host first would receive that app's pairwise subjects). Several redirect URIs on one
 * host need none: that follows the spec, where Hydra refuses any client with several redirect URIs
 * and no sector, but only when a user signs in.
 */
/**
 * A client that opts into the FAPI 2.0 Security Profile (`oauth2/fapi2.ts`) registers what the
 * profile lets it use: `private_key_jwt` (§5.3.2.1), and PS256, ES256 or EdDSA if it names an
 * algorithm (§5.4.1). Refused here rather than at every request it could never make.
 */
function checkFapi2Metadata(method: TokenEndpointAuthMethod, authSigningAlg: string): void {
  if (method !== 'private_key_jwt') {
    throw new InvalidClientMetadataError(
      'A client with fapi2_security_profile must use token_endpoint_auth_method private_key_jwt (FAPI 2.0 Security Profile §5.3.2.1).',
    );
  }
  if (authSigningAlg && !(FAPI2_SIGNING_ALGS as readonly string[]).includes(authSigningAlg)) {
    throw new InvalidClientMetadataError(
      'A client with fapi2_security_profile must use token_endpoint_auth_signing_alg PS256, ES256 or EdDSA (FAPI 2.0 Security Profile §5.4.1).',
    );
  }
}

function checkPairwiseSector(subjectType: string, sectorIdentifierUri: string, redirectUris: string[]): void {
  if (subjectType !== 'pairwise' || sectorIdentifierUri || redirectUris.length === 0) return;
  if (sectorIdentifier({ sector_identifier_uri: '', redirect_uris: redirectUris }) === undefined) {
    throw new InvalidClientMetadataError(
      'A pairwise client whose redirect_uris span several hosts must set a sector_identifier_uri (OpenID Connect Core 1.0 §8.1).',
    );
  }
}

/** Checks one redirect (or post-logout redirect) URI and returns it parsed. */
function checkRedirectUri(uri: string, field: string): URL {
  if (uri.includes('#')) throw new InvalidRedirectUriError(`Redirect URIs must not contain fragments (#), but "${uri}" in ${field} does.`);
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new InvalidRedirectUriError(`Redirect URI "${uri}" in ${field} is not an absolute URI.`);
  }
  if (FORBIDDEN_REDIRECT_SCHEMES.has(parsed.protocol)) {
    throw new InvalidRedirectUriError(`Redirect URI "${uri}" in ${field} uses a forbidden scheme.`);
  }
  return parsed;
}

/** Scheme, host and port: what a post-logout redirect URI must share with some redirect URI. */
function originOf(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/**
 * `http://localhost…`, `http://127.0.0.1…` or `http://[::1]…`: the only plain-http sector identifier URIs
 * accepted, and only in development mode (where a local file server stands in for the https one).
 */
export function isLoopbackHttpUrl(value: string): boolean {
  try {
    const { protocol, hostname } = new URL(value);
    return protocol === 'http:' && (hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]');
  } catch {
    return false;
  }
}

function isUrl(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function normalizeOrigin(origin: string): string {
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    throw new InvalidClientMetadataError(`Origin "${origin}" in allowed_cors_origins is not a URL.`);
  }
  const bare = parsed.pathname === '/' && !/[?#]/.test(origin) && !parsed.username && !parsed.password;
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !bare) {
    throw new InvalidClientMetadataError(
      `Origin "${origin}" in allowed_cors_origins must be an http(s) scheme, host and optional port, without user info, path, query or fragment.`,
    );
  }
  return `${parsed.protocol}//${parsed.host}`;
}

function normalizeJwks(value: unknown): JsonWebKeySet | undefined {
  if (value === undefined || value === null) return undefined;
  const set = value as { keys?: unknown };
  if (set.keys === undefined && Object.keys(set).length === 0) return undefined;
  if (!Array.isArray(set.keys)) throw new InvalidClientMetadataError('Field jwks must be a JSON Web Key Set with a keys array.');
  for (const key of set.keys as Array<Record<string, unknown>>) {
    if (typeof key !== 'object' || key === null || typeof key.kty !== 'string') {
      throw new InvalidClientMetadataError('Every key in jwks needs a kty.');
    }
    if (PRIVATE_JWK_MEMBERS.some((member) => member in key)) {
      throw new InvalidClientMetadataError('Keys in jwks must be public keys: private key members are not accepted.');
    }
  }
  return { keys: set.keys as JsonWebKeySet['keys'] };
}
