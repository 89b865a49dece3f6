import type { JWK } from 'jose';

/** Per-grant token lifespans a client may set (Hydra's 13 `*_lifespan` fields), as Go durations or null. */
export const LIFESPAN_FIELDS = [
  'authorization_code_grant_access_token_lifespan',
  'authorization_code_grant_id_token_lifespan',
  'authorization_code_grant_refresh_token_lifespan',
  'client_credentials_grant_access_token_lifespan',
  'implicit_grant_access_token_lifespan',
  'implicit_grant_id_token_lifespan',
  'jwt_bearer_grant_access_token_lifespan',
  'refresh_token_grant_id_token_lifespan',
  'refresh_token_grant_access_token_lifespan',
  'refresh_token_grant_refresh_token_lifespan',
  'device_authorization_grant_id_token_lifespan',
  'device_authorization_grant_access_token_lifespan',
  'device_authorization_grant_refresh_token_lifespan',
] as const;

export type LifespanField = (typeof LIFESPAN_FIELDS)[number];

/**
 * Fields only the admin API sets. Dynamic registration refuses them (Hydra refuses the first four;
 * an owner and token lifespans are the admin's to choose too: a self-registered client could
 * otherwise pose as another team's or give itself tokens that live for centuries), and an RFC 7592
 * update resets them to their defaults, as Hydra's, which replaces the whole client, does.
 */
export const ADMIN_ONLY_FIELDS = [
  'metadata',
  'access_token_strategy',
  'skip_consent',
  'skip_logout_consent',
  'owner',
  ...LIFESPAN_FIELDS,
] as const;
export type Lifespans = { [K in LifespanField]: string | null };

export const GRANT_TYPES = [
  'authorization_code',
  'implicit',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:token-exchange',
] as const;

export const TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
export type TokenEndpointAuthMethod = (typeof TOKEN_ENDPOINT_AUTH_METHODS)[number];

export const SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export interface JsonWebKeySet {
  keys: JWK[];
}

/** Hydra's OAuth2Client model, as stored (without secrets) and as the API shows it. */
export interface OAuth2Client extends Lifespans {
  client_id: string;
  client_name: string;
  redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  scope: string;
  audience: string[];
  owner: string;
  policy_uri: string;
  tos_uri: string;
  client_uri: string;
  logo_uri: string;
  contacts: string[];
  allowed_cors_origins: string[];
  client_secret_expires_at: number;
  subject_type: string;
  sector_identifier_uri: string;
  jwks: JsonWebKeySet | Record<string, never>;
  jwks_uri: string;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  token_endpoint_auth_signing_alg: string;
  request_uris: string[];
  request_object_signing_alg: string;
  userinfo_signed_response_alg: string;
  frontchannel_logout_uri: string;
  frontchannel_logout_session_required: boolean;
  backchannel_logout_uri: string;
  backchannel_logout_session_required: boolean;
  post_logout_redirect_uris: string[];
  metadata: Record<string, unknown>;
  access_token_strategy: string;
  skip_consent: boolean;
  skip_logout_consent: boolean;
  /** RFC 9126 §6: this client's authorization requests are taken only as pushed authorization requests. */
  require_pushed_authorization_requests: boolean;
  /**
   * RFC 9449 §5.2: every token request must carry a DPoP proof. Beyond Hydra's model, so stored and
   * shown only when true (a client that does not use it keeps Hydra's exact JSON).
   */
  dpop_bound_access_tokens?: true;
  /**
   * FAPI 2.0 Security Profile for this client alone (`oauth2/fapi2.ts`). Beyond Hydra's model, so
   * stored and shown only when true, as `dpop_bound_access_tokens`.
   */
  fapi2_security_profile?: true;
  created_at: string;
  updated_at: string;
}

/** What the API returns: the client plus the write-once fields of the moment. */
export interface ClientResponse extends OAuth2Client {
  client_secret?: string;
  registration_access_token?: string;
  registration_client_uri?: string;
}

/** A client as a request gives it: any subset of fields, types checked by the route schema. */
export type ClientInput = Partial<Omit<ClientResponse, 'jwks' | 'dpop_bound_access_tokens' | 'fapi2_security_profile'>> & {
  jwks?: unknown;
  metadata?: unknown;
  dpop_bound_access_tokens?: boolean | null;
  fapi2_security_profile?: boolean | null;
};

/** True for grant/response checks: an empty registered list means Hydra's default. */
export function effectiveGrantTypes(client: OAuth2Client): string[] {
  return client.grant_types.length > 0 ? client.grant_types : ['authorization_code'];
}

const stringList = { type: 'array', items: { type: 'string' } } as const;
const nullableString = { type: ['string', 'null'] } as const;
const lifespanSchema = { anyOf: [{ type: 'string', maxLength: 64 }, { type: 'null' }] } as const;

/** JSON schema of a client in a request body: types only; meaning is checked by `normalizeClient`. */
export const clientInputSchema = {
  type: 'object',
  properties: {
    client_id: { type: 'string', maxLength: 255 },
    client_secret: { type: 'string', maxLength: 512 },
    client_name: nullableString,
    redirect_uris: { type: ['array', 'null'], items: { type: 'string' } },
    grant_types: { type: ['array', 'null'], items: { type: 'string' } },
    response_types: { type: ['array', 'null'], items: { type: 'string' } },
    scope: nullableString,
    audience: { type: ['array', 'null'], items: { type: 'string' } },
    owner: nullableString,
    policy_uri: nullableString,
    tos_uri: nullableString,
    client_uri: nullableString,
    logo_uri: nullableString,
    contacts: { type: ['array', 'null'], items: { type: 'string' } },
    allowed_cors_origins: { type: ['array', 'null'], items: { type: 'string' } },
    client_secret_expires_at: { type: ['integer', 'null'] },
    subject_type: nullableString,
    sector_identifier_uri: nullableString,
    jwks: { type: ['object', 'null'] },
    jwks_uri: nullableString,
    token_endpoint_auth_method: nullableString,
    token_endpoint_auth_signing_alg: nullableString,
    request_uris: { type: ['array', 'null'], items: { type: 'string' } },
    request_object_signing_alg: nullableString,
    userinfo_signed_response_alg: nullableString,
    frontchannel_logout_uri: nullableString,
    frontchannel_logout_session_required: { type: ['boolean', 'null'] },
    backchannel_logout_uri: nullableString,
    backchannel_logout_session_required: { type: ['boolean', 'null'] },
    post_logout_redirect_uris: { type: ['array', 'null'], items: { type: 'string' } },
    metadata: {},
    access_token_strategy: nullableString,
    skip_consent: { type: ['boolean', 'null'] },
    skip_logout_consent: { type: ['boolean', 'null'] },
    require_pushed_authorization_requests: { type: ['boolean', 'null'] },
    dpop_bound_access_tokens: { type: ['boolean', 'null'] },
    fapi2_security_profile: { type: ['boolean', 'null'] },
    ...Object.fromEntries(LIFESPAN_FIELDS.map((field) => [field, lifespanSchema])),
  },
} as const;

export const lifespansInputSchema = {
  type: 'object',
  properties: Object.fromEntries(LIFESPAN_FIELDS.map((field) => [field, lifespanSchema])),
} as const;

/** JSON schema of a client in a response (serialization keeps exactly these fields). */
export const clientResponseSchema = {
  type: 'object',
  properties: {
    client_id: { type: 'string' },
    client_name: { type: 'string' },
    client_secret: { type: 'string' },
    redirect_uris: stringList,
    grant_types: stringList,
    response_types: stringList,
    scope: { type: 'string' },
    audience: stringList,
    owner: { type: 'string' },
    policy_uri: { type: 'string' },
    tos_uri: { type: 'string' },
    client_uri: { type: 'string' },
    logo_uri: { type: 'string' },
    contacts: stringList,
    allowed_cors_origins: stringList,
    client_secret_expires_at: { type: 'integer' },
    subject_type: { type: 'string' },
    sector_identifier_uri: { type: 'string' },
    jwks: { type: 'object', additionalProperties: true },
    jwks_uri: { type: 'string' },
    token_endpoint_auth_method: { type: 'string' },
    token_endpoint_auth_signing_alg: { type: 'string' },
    request_uris: stringList,
    request_object_signing_alg: { type: 'string' },
    userinfo_signed_response_alg: { type: 'string' },
    frontchannel_logout_uri: { type: 'string' },
    frontchannel_logout_session_required: { type: 'boolean' },
    backchannel_logout_uri: { type: 'string' },
    backchannel_logout_session_required: { type: 'boolean' },
    post_logout_redirect_uris: stringList,
    metadata: { type: 'object', additionalProperties: true },
    access_token_strategy: { type: 'string' },
    skip_consent: { type: 'boolean' },
    skip_logout_consent: { type: 'boolean' },
    require_pushed_authorization_requests: { type: 'boolean' },
    dpop_bound_access_tokens: { type: 'boolean' },
    fapi2_security_profile: { type: 'boolean' },
    registration_access_token: { type: 'string' },
    registration_client_uri: { type: 'string' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
    ...Object.fromEntries(LIFESPAN_FIELDS.map((field) => [field, { type: ['string', 'null'] }])),
  },
} as const;
