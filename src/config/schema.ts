/**
 * The one place every configuration key lives: its type, default and meaning.
 * Loading (file, environment, flags), validation and the generated docs all walk this tree,
 * so a key added here is configurable everywhere at once.
 */

import { GRANT_TYPES, SIGNING_ALGS } from '../client/model.js';
import { EXCHANGEABLE_TOKEN_TYPES, TOKEN_EXCHANGE_GRANT_TYPE, TOKEN_TYPES } from '../oauth2/token-types.js';
import { PUBLISHED_SETS } from './hydra-keys.js';

export type LeafKind = 'string' | 'url' | 'address' | 'integer' | 'number' | 'boolean' | 'duration' | 'list' | 'enum' | 'headers';

export interface LeafBase<T> {
  readonly kind: LeafKind;
  readonly default: T;
  readonly description: string;
  /** Values never printed (docs show no default, errors hide the value). */
  readonly secret?: boolean;
}
/** `address`: a host and port, as Hydra writes a collector's address (`localhost:4318`, `[::1]:4318`). */
export interface StringLeaf extends LeafBase<string> {
  readonly kind: 'string' | 'url' | 'address';
  readonly minLength?: number;
}
export interface IntegerLeaf extends LeafBase<number> {
  readonly kind: 'integer';
  readonly min: number;
  readonly max: number;
}
/** A fraction or other number that need not be whole. */
export interface NumberLeaf extends LeafBase<number> {
  readonly kind: 'number';
  readonly min: number;
  readonly max: number;
}
export interface BooleanLeaf extends LeafBase<boolean> {
  readonly kind: 'boolean';
}
/** Stored in milliseconds. */
export interface DurationLeaf extends LeafBase<number> {
  readonly kind: 'duration';
  readonly allowNegative?: boolean;
  /** A lifetime: zero is refused, so that no setting can turn into "never expires" by accident. */
  readonly positive?: boolean;
}
export interface ListLeaf extends LeafBase<readonly string[]> {
  readonly kind: 'list';
  readonly itemsOneOf?: readonly string[];
  readonly minItemLength?: number;
}
export interface EnumLeaf<T extends string> extends LeafBase<T> {
  readonly kind: 'enum';
  readonly values: readonly T[];
  /** Other spellings accepted (Hydra's), each read as one of `values`. */
  readonly aliases?: Readonly<Record<string, T>>;
}
/** HTTP header names and values: an object in a file, a JSON object in the environment. */
export interface HeadersLeaf extends LeafBase<Readonly<Record<string, string>>> {
  readonly kind: 'headers';
}
export type Leaf = StringLeaf | IntegerLeaf | NumberLeaf | BooleanLeaf | DurationLeaf | ListLeaf | EnumLeaf<string> | HeadersLeaf;

export interface SchemaTree {
  readonly [key: string]: Leaf | SchemaTree;
}

export function isLeaf(node: Leaf | SchemaTree): node is Leaf {
  return typeof (node as Leaf).kind === 'string' && 'description' in node;
}

const str = (def: string, description: string, extra: Partial<StringLeaf> = {}): StringLeaf => ({
  kind: 'string',
  default: def,
  description,
  ...extra,
});
const url = (description: string): StringLeaf => ({ kind: 'url', default: '', description });
const int = (def: number, min: number, max: number, description: string): IntegerLeaf => ({
  kind: 'integer',
  default: def,
  min,
  max,
  description,
});
const address = (description: string): StringLeaf => ({ kind: 'address', default: '', description });
/** A sampling ratio: the share of new traces recorded, from 0 (none) to 1 (all). */
const ratio = (def: number, description: string): NumberLeaf => ({ kind: 'number', default: def, min: 0, max: 1, description });
const bool = (def: boolean, description: string): BooleanLeaf => ({
  kind: 'boolean',
  default: def,
  description,
});
const HOUR = 3_600_000;
const duration = (def: number, description: string, allowNegative = false): DurationLeaf => ({
  kind: 'duration',
  default: def,
  description,
  allowNegative,
});
/** A token or request lifetime: 0 is refused (issue 12: no lifespan may silently mean "never"). */
const lifetime = (def: number, description: string, allowNegative = false): DurationLeaf => ({
  ...duration(def, description, allowNegative),
  positive: true,
});
const list = (def: readonly string[], description: string, extra: Partial<ListLeaf> = {}): ListLeaf => ({
  kind: 'list',
  default: def,
  description,
  ...extra,
});
const oneOf = <T extends string>(
  values: readonly T[],
  def: T,
  description: string,
  aliases?: Readonly<Record<string, NoInfer<T>>>,
): EnumLeaf<T> => ({
  kind: 'enum',
  values,
  default: def,
  description,
  ...(aliases ? { aliases } : {}),
});

/** A token hook (Hydra's `oauth2.token_hook` shape): where to POST, and the API key that authenticates the call. */
const tokenHook = (description: string) => ({
  url: url(`${description} Empty: no hook.`),
  auth: {
    type: oneOf(['', 'api_key'] as const, '', 'How the hook call is authenticated: `api_key` sends `auth.config.value` (else none).'),
    config: {
      in: oneOf(['header', 'cookie'] as const, 'header', 'Where the API key goes: a request header or a cookie.'),
      name: str('', 'The header or cookie name carrying the API key.'),
      value: str('', 'The API key.', { secret: true }),
    },
  },
});

/**
 * Keys that may be given as a URL alone, meaning their `url` (Hydra: `oauth2.token_hook: <url>`, also
 * `OAUTH2_TOKEN_HOOK=<url>`), as well as an object of keys.
 */
export const URL_SHORTHANDS: ReadonlySet<string> = new Set(['oauth2.token_hook', 'oauth2.refresh_token_hook']);

const cors = (listener: string) => ({
  enabled: bool(false, `Answer CORS requests on the ${listener} listener.`),
  allowed_origins: list([], 'Origins allowed to call (`*` for any, `https://*.example.com` globs).'),
  allowed_methods: list(['POST', 'GET', 'PUT', 'PATCH', 'DELETE'], 'Methods allowed in CORS requests.'),
  allowed_headers: list(['Authorization', 'Content-Type'], 'Request headers allowed in CORS requests.'),
  exposed_headers: list(['Content-Type'], 'Response headers exposed to the calling page.'),
  allow_credentials: bool(true, 'Send `Access-Control-Allow-Credentials: true`.'),
  max_age: int(0, 0, 86_400, 'Seconds a preflight answer may be cached (0: not sent).'),
  options_passthrough: bool(
    false,
    'Add the CORS headers to a preflight request and pass it on to the route (which answers it) instead of answering it with 204.',
  ),
  debug: bool(false, 'Log every CORS decision (origin allowed or not, preflight answered or passed on).'),
});

/** `serve.tls`, and per listener the same keys, each of which (when set) wins over its `serve.tls` counterpart. */
const tls = (scope: string) => ({
  enabled: bool(
    false,
    `Serve HTTPS${scope} even when no certificate is set, which then stops start-up (Hydra would make a self-signed one). A certificate and key set turn HTTPS on without it.`,
  ),
  cert: {
    path: str('', `PEM certificate file (its chain after it)${scope}; re-read when it changes, without a restart.`),
    base64: str('', `PEM certificate${scope}, base64-encoded (wins over \`cert.path\`).`),
  },
  key: {
    path: str('', `PEM private key file${scope}; re-read when it changes, without a restart.`),
    base64: str('', `PEM private key${scope}, base64-encoded (wins over \`key.path\`).`, { secret: true }),
  },
  allow_termination_from: list(
    [],
    `CIDR ranges of proxies that terminate TLS in front of Portcullis${scope}: plain HTTP is then served, and only to a peer in these ranges sending \`X-Forwarded-Proto: https\` (others: 502; health endpoints exempt). Comma-separated in the environment.`,
  ),
});

const listener = (name: string, port: number) => ({
  port: int(port, 0, 65_535, `TCP port of the ${name} listener.`),
  host: str(
    '',
    `Interface the ${name} listener binds to (empty: all interfaces), or \`unix:/path/to.sock\` for a Unix socket (a stale socket file there is removed).`,
  ),
  cors: cors(name),
  tls: tls(` on the ${name} listener`),
  socket: {
    owner: str(
      '',
      `Owner (user name or id) of the ${name} listener's Unix socket (a \`unix:/path\` host); empty: the user running Portcullis.`,
    ),
    group: str('', `Group (name or id) of the ${name} listener's Unix socket; empty: the primary group of the user running Portcullis.`),
    mode: int(0o755, 0, 0o777, `Permissions of the ${name} listener's Unix socket, as a number (493 is 0755).`),
  },
  request_log: {
    disable_for_health: bool(false, 'Do not log requests to the health endpoints.'),
  },
});

export const SCHEMA = {
  dsn: str(
    'sqlite://./data/portcullis.sqlite',
    'Where data lives: `memory` (in-process SQLite, lost on exit), `sqlite://path/to/file.sqlite`, `postgres://user:pass@host:port/db` (also `postgresql://`, `cockroach://`), or MySQL/MariaDB as Hydra writes it: `mysql://user:pass@tcp(host:3306)/db?parseTime=true` (or `mysql://user:pass@host:3306/db`). Query parameters `max_conns` and `search_path` tune PostgreSQL; docs/storage.md lists those of MySQL.',
  ),
  dev: bool(
    false,
    'Development mode (also `--dev`): plain-http issuer and non-secure cookies allowed, a system secret generated when none is set, SQLite migrated automatically.',
  ),
  serve: {
    public: {
      ...listener('public', 4444),
      rate_limit: {
        enabled: bool(
          false,
          'Rate-limit the token, revocation, authorization and registration endpoints per client and per IP address (in memory, per node; one budget per client across token and revocation; see docs/security.md).',
        ),
        requests_per_second: int(10, 1, 1_000_000, 'Requests per second each client and each IP address may make on average.'),
        burst: int(20, 1, 1_000_000, 'Requests each client and each IP address may make at once before being limited.'),
        max_buckets: int(100_000, 100, 10_000_000, 'Most clients and IP addresses tracked at once; the longest idle are forgotten first.'),
      },
    },
    admin: {
      ...listener('admin', 4445),
      auth: {
        api_keys: list(
          [],
          'Bearer API keys the admin listener requires (except on /health/* and /version): each the hex SHA-256 of a key (`sha256:<hex>`) or, less safely, the key itself. Empty: no authentication. Comma-separated in the environment.',
          { secret: true, minItemLength: 16 },
        ),
      },
    },
    tls: tls(' on both listeners'),
    cookies: {
      same_site_mode: oneOf(['Strict', 'Lax', 'None'] as const, 'None', 'SameSite of flow cookies (development mode uses Lax).'),
      same_site_legacy_workaround: bool(false, 'Also set cookies without SameSite for browsers that mishandle `None`.'),
      domain: str('', 'Domain attribute of cookies (empty: host-only).'),
      secure: bool(true, 'Secure attribute of cookies; development mode turns it off.'),
      names: {
        session: str('ory_hydra_session', 'Name of the login session cookie.'),
        login_csrf: str('ory_hydra_login_csrf', 'Name prefix of the login CSRF cookie.'),
        consent_csrf: str('ory_hydra_consent_csrf', 'Name prefix of the consent CSRF cookie.'),
        logout_csrf: str('ory_hydra_logout_csrf', 'Name of the logout CSRF cookie.'),
        device_csrf: str(
          'ory_hydra_device_csrf',
          'Name of the device verification CSRF cookie (one per browser: the device flow starts before its client is known).',
        ),
      },
      paths: {
        session: str('/', 'Path of the login session cookie.'),
      },
    },
    body_limit: int(1_048_576, 1024, 104_857_600, 'Largest request body accepted, in bytes (larger: 413).'),
    max_header_size: int(
      16_384,
      1024,
      1_048_576,
      'Largest request line plus header names and values accepted, in bytes (Node’s `maxHeaderSize`; larger: 431 error JSON, then the connection is closed). Also bounds query strings.',
    ),
    max_parameter_length: int(
      16_384,
      256,
      10_485_760,
      'Longest query, path or form parameter (name or value) accepted, in characters (longer: 400 `invalid_request`).',
    ),
    max_form_fields: int(
      1000,
      16,
      1_000_000,
      'Most fields a form body may carry, every repetition of a name counting as one, on both listeners and in the identity UI (more: 400 `invalid_request`, before the fields are decoded).',
    ),
    max_json_depth: int(
      64,
      8,
      1000,
      'Deepest nesting of objects and arrays accepted in a JSON body (deeper: 400, before it is parsed); client metadata read back from the database is held to it too.',
    ),
    request_timeout: duration(
      30_000,
      'Longest a request (line, headers and body) may take to arrive, on both listeners and in the identity UI; slower: 408 error JSON and the connection is closed. 0: no limit.',
    ),
    max_connections: int(
      1024,
      1,
      1_000_000,
      'Most connections each listener (and the identity UI) holds open at once; a connection beyond them is closed as soon as it is accepted.',
    ),
    shutdown_timeout: duration(10_000, 'How long a stopping server waits for requests in flight.'),
    workers: int(
      1,
      0,
      1024,
      'Processes `serve` runs, sharing the listeners (node:cluster); 0: one per CPU (`--workers auto`). Not a Hydra key: Portcullis only. Needs a shared database (not `memory`).',
    ),
  },
  urls: {
    self: {
      issuer: url('The issuer, used verbatim as `iss` (default: `http://localhost:<public port>/` in development mode, else https).'),
      public: url('Public base URL of this server (default: the issuer).'),
      admin: url('Admin base URL of this server (default: `http://localhost:<admin port>/`).'),
    },
    login: url('The login app (default: a built-in fallback page).'),
    consent: url('The consent app (default: a built-in fallback page).'),
    logout: url('The logout app (default: a built-in fallback page).'),
    error: url('Where errors that cannot go back to a client are shown (default: a built-in page).'),
    post_logout_redirect: url('Where a logout without a client redirect ends (default: a built-in page).'),
    registration: url('The registration app for `prompt=registration` (default: the login app).'),
    device: {
      verification: url(
        'The device verification app, where people enter a device flow’s user code; it receives a `device_challenge` (and the `user_code` when the link carried one) and answers it through the admin API (default: a built-in fallback page).',
      ),
      success: url('Where a completed device flow sends the browser, with `client_id` (default: a built-in page).'),
    },
    identity_provider: {
      url: url(
        'Admin URL of the identity provider (Ory Kratos): when a logout ends a login session accepted with an `identity_provider_session_id`, that session is disabled there too (`DELETE <url>/admin/sessions/<id>`, in the background, as Hydra does).',
      ),
      headers: {
        kind: 'headers',
        default: {},
        description: 'HTTP headers sent with each request to the identity provider (an API key, say); a JSON object in the environment.',
        secret: true,
      } satisfies HeadersLeaf,
    },
  },
  ttl: {
    access_token: lifetime(HOUR, 'Lifetime of access tokens.'),
    refresh_token: lifetime(720 * HOUR, 'Lifetime of refresh tokens (`-1`: never expire).', true),
    id_token: lifetime(HOUR, 'Lifetime of ID tokens.'),
    auth_code: lifetime(600_000, 'Lifetime of authorization codes.'),
    login_consent_request: lifetime(1_800_000, 'How long a login, consent or logout challenge stays valid.'),
    authentication_session: lifetime(720 * HOUR, 'Longest life of a remembered login session.'),
    vc_nonce: lifetime(HOUR, 'Lifetime of a verifiable-credential nonce.'),
    device_user_code: lifetime(600_000, 'Lifetime of a device flow’s device code and user code (RFC 8628 `expires_in`).'),
  },
  strategies: {
    access_token: oneOf(['opaque', 'jwt'] as const, 'opaque', 'Access token format for clients that do not choose one.'),
    scope: oneOf(
      ['wildcard', 'exact'] as const,
      'wildcard',
      'How requested scopes match a client’s scopes (`wildcard`: `foo.*` matches `foo.bar`).',
    ),
    jwt: {
      scope_claim: oneOf(
        ['list', 'string', 'both'] as const,
        'list',
        'Scope claim of JWT access tokens: `scp` list, `scope` string, or both.',
      ),
    },
  },
  webfinger: {
    oidc_discovery: {
      auth_url: url('`authorization_endpoint` the discovery document advertises (default: `<public URL>/oauth2/auth`).'),
      token_url: url('`token_endpoint` the discovery document advertises (default: `<public URL>/oauth2/token`).'),
      jwks_url: url('`jwks_uri` the discovery document advertises (default: `<issuer>/.well-known/jwks.json`).'),
      userinfo_url: url('`userinfo_endpoint` the discovery document advertises (default: `<public URL>/userinfo`).'),
      client_registration_url: url(
        '`registration_endpoint` the discovery document advertises (default: `<public URL>/oauth2/register` when dynamic client registration is enabled, else none).',
      ),
      device_authorization_url: url(
        '`device_authorization_endpoint` the discovery document advertises (default: `<public URL>/oauth2/device/auth`).',
      ),
      supported_claims: list([], 'Claims added to `claims_supported` of the discovery document.'),
      supported_scope: list([], 'Scopes added to `scopes_supported` of the discovery document.'),
    },
    jwks: {
      broadcast_keys: list(
        ['hydra.openid.id-token'],
        `Key sets whose public keys \`/.well-known/jwks.json\` publishes, besides ${PUBLISHED_SETS.map((set) => `\`${set}\``).join(' and ')} (always published); a named set that does not exist gets an RS256 signing key generated, as Hydra does.`,
      ),
    },
  },
  oidc: {
    dynamic_client_registration: {
      enabled: bool(false, 'Serve OpenID Connect Dynamic Client Registration at `/oauth2/register`.'),
      default_scope: list(
        ['offline_access', 'offline', 'openid'],
        'Scope given to clients registered without one (admin-created clients too).',
      ),
      initial_access_token: str('', 'When set, registration requires `Authorization: Bearer <this token>` (RFC 7591 §3).', {
        secret: true,
      }),
      allow_private_ip_ranges: bool(
        false,
        'Let self-registered clients name fetch targets (jwks_uri, sector_identifier_uri, backchannel_logout_uri, request_uris) on private, loopback or link-local addresses. Off (the default), those must be public addresses, at registration and whenever they are fetched, whatever `clients.http.disallow_private_ip_ranges` says (see docs/security.md).',
      ),
      allowed_scopes: list(
        ['openid', 'offline_access', 'offline', 'profile', 'email', 'address', 'phone'],
        'Scopes a self-registered client may register, matched by `strategies.scope` (`photos.*` allows `photos.read`); `default_scope` is always allowed. Others: 400 `invalid_client_metadata`. The admin API is not bound by it.',
      ),
      allowed_grant_types: list(
        GRANT_TYPES.filter((grant) => grant !== TOKEN_EXCHANGE_GRANT_TYPE),
        'Grant types a self-registered client may register (none registered means `authorization_code`). Token exchange is not among the defaults: a client that may exchange tokens should be registered by an administrator.',
        {
          itemsOneOf: GRANT_TYPES,
        },
      ),
      allowed_audiences: list(
        [],
        'Audiences a self-registered client may register, matched as requested audiences are (`https://api.example/public` allows `https://api.example/public/v1`). Empty: none.',
      ),
    },
    subject_identifiers: {
      supported_types: list(['public'], 'Subject types offered: `public`, `pairwise`.', { itemsOneOf: ['public', 'pairwise'] }),
      pairwise: {
        salt: str('', 'Salt of pairwise subject identifiers (at least 8 characters when pairwise is enabled).', { secret: true }),
      },
    },
  },
  oauth2: {
    expose_internal_errors: bool(false, 'Add internal error details to `error_description` (debugging only).'),
    allowed_top_level_claims: list(
      [],
      'Claims of the consent session’s `session.access_token` copied to the top level of JWT access tokens; the reserved claims (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`, `client_id`, `scp`, `ext`) are never replaced.',
    ),
    mirror_top_level_claims: bool(
      true,
      'Also keep every claim of the consent session’s `session.access_token` under `ext` in JWT access tokens, promoted ones included.',
    ),
    preserve_ext_claims: bool(
      false,
      'When `mirror_top_level_claims` is false: keep under `ext` the claims not promoted to the top level (else JWT access tokens carry no `ext`).',
    ),
    exclude_not_before_claim: bool(false, 'Leave the `nbf` claim out of JWT access tokens.'),
    session: {
      encrypt_at_rest: bool(
        true,
        'Seal the session data stored with tokens and consents (claims, `ext`, ID-token claims) with `secrets.system` (AES-256-GCM). Rows written unsealed before stay readable; false stores new rows as plain JSON (sealed rows still open).',
      ),
    },
    hashers: {
      algorithm: oneOf(['pbkdf2', 'bcrypt'] as const, 'pbkdf2', 'How client secrets are hashed at rest. Both formats always verify.'),
      pbkdf2: {
        iterations: int(25_000, 1, 10_000_000, 'PBKDF2-SHA256 iterations.'),
      },
      bcrypt: {
        cost: int(10, 4, 31, 'bcrypt cost factor.'),
      },
    },
    pkce: {
      enforced: bool(false, 'Require PKCE (S256) from every client.'),
      enforced_for_public_clients: bool(false, 'Require PKCE (S256) from public clients (`token_endpoint_auth_method: none`).'),
    },
    pushed_authorization_requests: {
      request_uri_lifespan: lifetime(
        60_000,
        'How long a `request_uri` from the pushed authorization request endpoint (`POST /oauth2/par`, RFC 9126) can be used at the authorization endpoint (at most 10m); it is also spent by its first use.',
      ),
      required: bool(
        false,
        'Take authorization requests only as pushed authorization requests (RFC 9126 §5, discovery’s `require_pushed_authorization_requests`): any other request to `/oauth2/auth` is `invalid_request`. A client can require it for itself alone with its `require_pushed_authorization_requests` metadata.',
      ),
    },
    fapi2_security_profile: {
      enabled: bool(
        false,
        'Apply the FAPI 2.0 Security Profile to every client (a client can opt in alone with its `fapi2_security_profile` metadata; see docs/modern-oauth.md): authorization requests only pushed (PAR), with `response_type=code`, PKCE S256 and an explicit `redirect_uri`; clients authenticate only with `private_key_jwt` whose assertion’s `aud` is the issuer, as a string; client assertions and request objects signed with PS256, ES256 or EdDSA; every token request carries a DPoP proof; authorization codes live at most 60s and `request_uri`s less than 600s. Discovery advertises what the profile allows.',
      ),
    },
    client_id_metadata_documents: {
      enabled: bool(
        false,
        'Accept an https URL that names no registered client as a `client_id`: the client’s metadata is fetched from that URL (OAuth Client ID Metadata Document, draft-ietf-oauth-client-id-metadata-document; see docs/modern-oauth.md). Discovery then says `client_id_metadata_document_supported: true`.',
      ),
      allowed_insecure_prefixes: list(
        [],
        'Development mode only: `client_id` URLs starting with one of these prefixes (each a plain-http loopback URL, e.g. `http://127.0.0.1:8080/`) are fetched although they are not https and point at a loopback address, for testing clients locally. Outside development mode the list is ignored, with a warning at start-up.',
      ),
    },
    token_hook: tokenHook(
      'POSTed the session and the token request before tokens are issued, for every grant; its answer’s `session.access_token` / `session.id_token` replace the tokens’ extra claims (also settable as a URL alone: `oauth2.token_hook: <url>`, `OAUTH2_TOKEN_HOOK=<url>`).',
    ),
    refresh_token_hook: tokenHook(
      'POSTed the session before tokens are issued for the refresh_token grant (before `token_hook`); its answer merges as `token_hook`’s does (also settable as a URL alone).',
    ),
    resource_indicators: {
      allowed: list(
        [],
        'Resources (RFC 8707 `resource` values: absolute URIs without a fragment) any client may ask for at the authorization and token endpoints, beside those its own `audience` allows (matched the same way); they become the access token’s audience (`aud`). Other resources are refused with `invalid_target`.',
      ),
    },
    dpop: {
      signing_alg_values: list(
        ['ES256', 'PS256', 'RS256', 'EdDSA', 'Ed25519'],
        'Algorithms a DPoP proof (RFC 9449) may be signed with, asymmetric only (`Ed25519` is RFC 9864’s fully specified name for EdDSA with Ed25519, which oauth4webapi signs with); advertised as `dpop_signing_alg_values_supported`. Empty: DPoP is not offered (every proof is refused).',
        { itemsOneOf: [...SIGNING_ALGS, 'Ed25519'] },
      ),
      proof_max_age: lifetime(
        5 * 60_000,
        'How far a DPoP proof’s `iat` may lie from this server’s clock, before or after; its `jti` is remembered for as long, so a replay within the window is refused.',
      ),
      required_nonce: bool(
        false,
        'Require a server nonce in every DPoP proof (RFC 9449 §8, §9): a proof without the current one is answered `use_dpop_nonce` with a fresh nonce in `DPoP-Nonce`. Nonces are stateless (an HMAC of a time window with `secrets.system`), so every node accepts every node’s.',
      ),
      nonce_lifetime: lifetime(
        5 * 60_000,
        'Length of a DPoP nonce’s time window: a nonce is accepted in its window and the next, so it lives between one and two windows.',
      ),
    },
    token_exchange: {
      enabled: bool(
        true,
        'Serve OAuth 2.0 Token Exchange (RFC 8693, `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`) to clients registered for that grant type, and list it in discovery. `false`: `unsupported_grant_type`.',
      ),
      subject_token_types: list(
        [TOKEN_TYPES.access_token, TOKEN_TYPES.jwt],
        'The `subject_token_type`s accepted: this server’s active access tokens (`…:access_token`), JWTs of issuers trusted through `/admin/trust/grants/jwt-bearer/issuers` (`…:jwt`), and this server’s unexpired ID tokens (`…:id_token`, not by default: an ID token carries no scope, so its exchange is bounded only by the client’s scope). Others: `invalid_request`.',
        { itemsOneOf: EXCHANGEABLE_TOKEN_TYPES },
      ),
      actor_token_types: list(
        [...EXCHANGEABLE_TOKEN_TYPES],
        'The `actor_token_type`s accepted (delegation: the token issued names the actor in `act`). Empty: no delegation.',
        { itemsOneOf: EXCHANGEABLE_TOKEN_TYPES },
      ),
      token_owner: oneOf(
        ['same_client', 'audience', 'any'] as const,
        'same_client',
        'Whose tokens of this server a client may present as subject or actor token: `same_client`, only those issued to itself (an access token’s `client_id`, an ID token’s `aud`); `audience`, also access tokens naming its client id in their audience (a resource server exchanging the tokens it receives); `any`, every one. Trusted issuers’ JWTs are governed by their trust relationships instead.',
      ),
      allow_impersonation: bool(
        true,
        'Accept exchanges without an `actor_token` (impersonation, RFC 8693 §1.1: the token issued carries no new `act`). `false`: an actor token is required.',
      ),
    },
    device_authorization: {
      token_polling_interval: {
        kind: 'duration',
        default: 5000,
        positive: true,
        description:
          'The device code grant’s polling `interval` (RFC 8628 §3.2): a token request for a device code sooner than this after the previous one is answered `slow_down`.',
      } satisfies DurationLeaf,
      user_code: {
        entropy_preset: oneOf(
          ['high', 'medium', 'low'] as const,
          'high',
          'Length and characters of user codes, as Hydra’s presets: `high` 8 letters and digits without look-alikes (0/O, 1/l/I), `medium` 8 upper-case letters, `low` 9 digits.',
        ),
        length: int(0, 0, 64, 'Characters in a user code; 0: the preset’s.'),
        character_set: str('', 'The characters user codes are drawn from (empty: the preset’s); at least two.', { minLength: 2 }),
      },
    },
    client_credentials: {
      default_grant_allowed_scope: bool(false, 'Grant every scope of the client when a client_credentials request asks for none.'),
    },
    grant: {
      refresh_token: {
        rotation_grace_period: duration(0, 'How long a used refresh token may still be exchanged (0: never; at most 5m).'),
        rotation_grace_reuse_count: int(
          0,
          0,
          1_000_000,
          'How often a used refresh token may be reused in its grace period (0: unlimited).',
        ),
      },
      jwt: {
        jti_optional: bool(false, 'Accept JWT-bearer grant assertions without a `jti` (one without cannot be recognised when replayed).'),
        iat_optional: bool(false, 'Accept JWT-bearer grant assertions without an `iat`.'),
        omit_assertion_audience: bool(
          true,
          'Leave the `aud` of a JWT-bearer grant assertion (which names this server) out of the access token; `false` copies it in, as Hydra once did.',
        ),
        max_ttl: lifetime(
          720 * HOUR,
          'Longest a `private_key_jwt` client assertion or JWT-bearer grant assertion may live: its `exp` at most this long after its `iat` (or now, without `iat`).',
        ),
      },
    },
  },
  secrets: {
    system: list(
      [],
      'Secrets keying HMACs and encryption at rest, at least 16 characters each. The first is used; the others still verify and decrypt, so rotate by prepending. Comma-separated in the environment.',
      { secret: true, minItemLength: 16 },
    ),
    cookie: list(
      [],
      'Secrets signing the login session cookie, at least 16 characters each; the first signs, all verify (default: `secrets.system`). Changing them signs everyone out.',
      { secret: true, minItemLength: 16 },
    ),
    pagination: list(
      [],
      'Secrets sealing the `page_token` of the admin client list, at least 16 characters each; the first seals, all open (default: `secrets.system`). Changing them invalidates page tokens handed out before.',
      { secret: true, minItemLength: 16 },
    ),
  },
  keys: {
    rsa_key_size: int(2048, 2048, 8192, 'Bits of RSA keys generated for the built-in key sets and `POST /admin/keys`.'),
  },
  cache: {
    ttl: duration(
      5000,
      'How long a node serves clients and JSON Web Key sets from memory before reading them again; the bound on how stale another node’s change can look (docs/storage.md, “Many nodes”). 0 turns these caches (and the cache of verified client secrets) off.',
    ),
  },
  clients: {
    http: {
      disallow_private_ip_ranges: bool(
        false,
        'Refuse clients whose server-side fetch targets (jwks_uri, sector_identifier_uri, backchannel_logout_uri, request_uris) resolve to private, loopback or link-local addresses.',
      ),
      private_ip_exception_urls: list([], 'URLs exempt from `disallow_private_ip_ranges`.'),
    },
    jwks: {
      max_keys: int(
        100,
        1,
        10_000,
        'Most keys in a client’s JSON Web Key Set: inline `jwks` at registration and in the admin API, and answers of a `jwks_uri`.',
      ),
    },
    limits: {
      max_list_items: int(
        100,
        1,
        100_000,
        'Most entries in each list of a client’s metadata (redirect_uris, post_logout_redirect_uris, request_uris, grant_types, response_types, audience, contacts, allowed_cors_origins), on registration and in the admin API.',
      ),
      max_scopes: int(100, 1, 100_000, 'Most scopes in a client’s `scope`.'),
      max_string_length: int(
        2048,
        64,
        1_048_576,
        'Longest URI, scope, list entry or other string of a client’s metadata, in characters (`client_name` has its own bound).',
      ),
      max_client_name_length: int(256, 1, 1_048_576, 'Longest `client_name`, in characters.'),
      max_metadata_bytes: int(65_536, 2, 1_048_576, 'Largest `metadata` object of a client (admin API only), in bytes of JSON.'),
      max_lifespan: duration(
        8760 * HOUR,
        'Longest per-client token lifespan (`*_lifespan` fields); a client lifespan is also at least 1s, never 0 (the global `ttl.*` keys are not bound by it).',
      ),
    },
  },
  janitor: {
    schedule: duration(0, 'Run the janitor inside `serve` this often (0: never; run `portcullis janitor` instead).'),
    batch_size: int(100, 1, 100_000, 'Rows the scheduled janitor deletes per statement.'),
    limit: int(10_000, 1, 100_000_000, 'Most rows per table the scheduled janitor deletes in one run.'),
    keep_if_younger: duration(0, 'The scheduled janitor leaves rows that expired, were revoked or used less than this long ago.'),
  },
  log: {
    level: oneOf(
      ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const,
      'info',
      'Least severe level logged.',
      // Go's logger has a level above fatal; pino's highest is fatal.
      { panic: 'fatal' },
    ),
    format: oneOf(
      ['json', 'json_pretty', 'text'] as const,
      'json',
      'Log line format: one JSON object per line, the same indented over several lines, or readable text.',
    ),
    leak_sensitive_values: bool(false, 'Log query strings and headers that may carry secrets (never in production).'),
    redaction_text: str('[redacted]', 'What logs show in place of a secret value (authorization headers, cookies, tokens, passwords).'),
  },
  tracing: {
    provider: oneOf(
      ['', 'otel', 'jaeger', 'zipkin'] as const,
      '',
      'Where OpenTelemetry spans go: `otel` (OTLP over HTTP, `tracing.providers.otlp.*`), `jaeger` (OTLP over HTTP to the Jaeger host, see `tracing.providers.jaeger.local_agent_address`) or `zipkin` (Zipkin’s JSON API). Empty: tracing is off and no tracer is set up. Spans: one per request on both listeners (named by route pattern), one per database statement (its kind and table, never its values), one per outbound request (back-channel logout, `jwks_uri`, `sector_identifier_uri`), which carries a W3C `traceparent` header; an incoming `traceparent` continues the caller’s trace.',
    ),
    service_name: str('Portcullis', 'The `service.name` of every span.'),
    deployment_environment: str('', 'The `deployment.environment.name` of every span (empty: not set).'),
    providers: {
      jaeger: {
        local_agent_address: address(
          'The Jaeger agent’s address (`host:port`, default `localhost:6831`). Portcullis does not speak the agent’s UDP protocol: it sends OTLP over HTTP to port 4318 of this host, where Jaeger (1.35 and later) receives OTLP, and says so at start-up.',
        ),
        sampling: {
          trace_id_ratio: ratio(
            1,
            'Share of new traces recorded with Jaeger; a caller’s sampling decision (its `traceparent`) is always followed.',
          ),
        },
      },
      zipkin: {
        server_url: url('Zipkin’s span API (default: `http://localhost:9411/api/v2/spans`).'),
        sampling: {
          sampling_ratio: ratio(
            0,
            'Share of new traces recorded with Zipkin; a caller’s sampling decision is always followed. 0 (Hydra’s default here): only traces whose caller sampled them.',
          ),
        },
      },
      otlp: {
        server_url: address('The OTLP/HTTP collector (`host:port`, default `localhost:4318`); spans are POSTed to `/v1/traces` there.'),
        insecure: bool(false, 'Send spans over plain HTTP; otherwise HTTPS.'),
        sampling: {
          sampling_ratio: ratio(1, 'Share of new traces recorded; a caller’s sampling decision (its `traceparent`) is always followed.'),
        },
        authorization_header: str('', 'Sent as the `Authorization` header of every export (e.g. `Bearer …`).', { secret: true }),
      },
    },
  },
  ui: {
    port: int(3000, 0, 65_535, 'TCP port of the identity UI (`portcullis ui`): the bundled sign-in, consent and logout pages.'),
    host: str('', 'Interface the identity UI binds to (empty: all interfaces).'),
    admin_url: {
      kind: 'url',
      default: 'http://127.0.0.1:4445',
      description: 'The Portcullis admin API the identity UI answers login, consent and logout requests through.',
    } satisfies StringLeaf,
    admin_api_key: str(
      '',
      'Bearer API key the identity UI sends to the admin API, when `serve.admin.auth.api_keys` requires one (the key itself, not its hash).',
      { secret: true },
    ),
    public_url: url(
      'The identity UI’s own external URL (default: `http://localhost:<ui.port>`). Its cookies are marked `Secure` when this is https, or when it is empty outside development mode.',
    ),
    secrets: list(
      [],
      'Secrets keying the identity UI’s CSRF tokens, at least 16 characters each; the first signs, all verify (default: `secrets.system`).',
      { secret: true, minItemLength: 16 },
    ),
    title: str('Portcullis', 'Product name shown in the identity UI’s page titles and header.'),
    login: {
      remember_for: duration(720 * HOUR, 'How long “Remember me” keeps a person signed in (at most `ttl.authentication_session`).'),
      throttle: {
        account_free_attempts: int(
          5,
          1,
          1_000_000,
          'Failed sign-ins per account (the username or email as typed) before each further one locks it for a growing delay (in memory, per UI process; see docs/security.md).',
        ),
        address_free_attempts: int(
          20,
          1,
          1_000_000,
          'Failed sign-ins per network address before each further one locks it for a growing delay.',
        ),
        base_delay: duration(1000, 'The first lock once the free sign-in attempts are spent; each further failure doubles it.'),
        max_delay: duration(5 * 60_000, 'The longest lock after a failed sign-in: never longer than this after the guessing stops.'),
        decay: duration(60_000, 'One failed sign-in is forgotten per this much time, so the locks shrink back.'),
        max_entries: int(
          100_000,
          100,
          10_000_000,
          'Most accounts and addresses the sign-in throttle remembers; the least recently used are forgotten first.',
        ),
      },
      max_concurrent_hashes: int(
        2,
        1,
        64,
        'Password checks (scrypt, on libuv’s thread pool) the identity UI runs at once; more wait in line.',
      ),
      max_queued_hashes: int(
        32,
        0,
        100_000,
        'Password checks waiting for a slot; a sign-in beyond that is answered “busy, try again” (503).',
      ),
    },
    consent: {
      remember_for: duration(0, 'How long a remembered consent lasts (0: until it is revoked).'),
    },
  },
} as const satisfies SchemaTree;

/** The typed value tree of a schema: each leaf becomes the type of its default. */
export type ValuesOf<T> = {
  -readonly [K in keyof T]: T[K] extends EnumLeaf<infer E>
    ? E
    : T[K] extends ListLeaf
      ? string[]
      : T[K] extends HeadersLeaf
        ? Record<string, string>
        : T[K] extends LeafBase<infer V>
          ? V
          : ValuesOf<T[K]>;
};

export type Config = ValuesOf<typeof SCHEMA>;

/** Every leaf with its dotted key, in schema order. */
export function leaves(tree: SchemaTree = SCHEMA, prefix = ''): Array<[string, Leaf]> {
  const out: Array<[string, Leaf]> = [];
  for (const [name, node] of Object.entries(tree)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (isLeaf(node)) out.push([key, node]);
    else out.push(...leaves(node, key));
  }
  return out;
}

/** `serve.public.port` → `SERVE_PUBLIC_PORT`, as Hydra names its environment variables. */
export function envName(key: string): string {
  return key.toUpperCase().replace(/\./g, '_');
}
