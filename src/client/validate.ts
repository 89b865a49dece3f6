import { randomUUID } from 'node:crypto';
import { formatDuration, parseDuration } from '../config/duration.js';
import type { Config } from '../config/schema.js';
import { InvalidClientMetadataError, InvalidRedirectUriError } from '../http/errors.js';
import {
  type ClientInput,
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

const RESPONSE_TYPE_PARTS = new Set(['code', 'id_token', 'token']);
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const REQUEST_OBJECT_ALGS = ['none', ...SIGNING_ALGS];
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/**
 * Turns a client from a request into a complete, valid client with Hydra's defaults, or throws
 * `invalid_client_metadata` / `invalid_redirect_uri` naming the field at fault.
 */
export function normalizeClient(input: ClientInput, context: NormalizeContext): OAuth2Client {
  const { config, now, existing } = context;
  const invalid = (hint: string) => new InvalidClientMetadataError(hint);

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
  for (const uri of redirectUris) checkRedirectUri(uri, 'redirect_uris');

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

  const scope = (input.scope ?? '').trim().split(/\s+/).filter(Boolean);
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
  const userinfoAlg = input.userinfo_signed_response_alg || 'none';
  if (userinfoAlg !== 'none' && userinfoAlg !== 'RS256') {
    throw invalid('Field userinfo_signed_response_alg must be none or RS256.');
  }
  const requestObjectAlg = input.request_object_signing_alg ?? '';
  if (requestObjectAlg && !REQUEST_OBJECT_ALGS.includes(requestObjectAlg)) {
    throw invalid(`Field request_object_signing_alg must be one of ${REQUEST_OBJECT_ALGS.join(', ')}.`);
  }

  const requestUris = list(input.request_uris);
  for (const uri of requestUris) if (!isUrl(uri, ['https:', 'http:'])) throw invalid(`Request URI "${uri}" must be an http(s) URL.`);

  const postLogout = list(input.post_logout_redirect_uris);
  for (const uri of postLogout) {
    checkRedirectUri(uri, 'post_logout_redirect_uris');
    if (!redirectUris.some((redirect) => sameOrigin(redirect, uri))) {
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
    ...normalizeLifespans(input),
    created_at: existing?.created_at ?? timestamp,
    updated_at: timestamp,
  };
}

/** Validates and normalizes the 13 lifespan fields (`60m` → `1h0m0s`). */
export function normalizeLifespans(input: Partial<Record<string, unknown>>): Lifespans {
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
    out[field] = formatDuration(ms);
  }
  return out;
}

/** Second-precision UTC, as Hydra prints client timestamps. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function list(value: string[] | null | undefined): string[] {
  return (value ?? []).filter((item) => item !== '');
}

function checkRedirectUri(uri: string, field: string): void {
  if (uri.includes('#')) throw new InvalidRedirectUriError(`Redirect URIs must not contain fragments (#), but "${uri}" in ${field} does.`);
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new InvalidRedirectUriError(`Redirect URI "${uri}" in ${field} is not an absolute URI.`);
  }
  if (parsed.protocol === 'javascript:' || parsed.protocol === 'data:') {
    throw new InvalidRedirectUriError(`Redirect URI "${uri}" in ${field} uses a forbidden scheme.`);
  }
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

function sameOrigin(a: string, b: string): boolean {
  try {
    const left = new URL(a);
    const right = new URL(b);
    return left.protocol === right.protocol && left.host === right.host;
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
