/**
 * What Portcullis does with each of Ory Hydra's configuration keys, so that a Hydra configuration file
 * or environment moves over and no key in it is silently ignored. The loader, the generated docs and
 * the tests all read this one table:
 *
 * - `implemented`: a key of the schema (`schema.ts`), read as any other;
 * - `ignored`: accepted with one warning at start-up, because it has no effect in Portcullis;
 * - `pending`: accepted with one warning, because Portcullis does not implement it yet and ignoring it
 *   changes neither security nor what clients see;
 * - `refused`: start-up stops, because ignoring it would be unsafe or would change what clients see.
 *   Some refused keys are harmless at one value (Hydra's "off" state): that value is only warned about.
 */

/**
 * The built-in key sets `/.well-known/jwks.json` always publishes (`BUILTIN_SETS` of jwk/manager.ts, which a
 * test holds this to; not imported, so that reading the configuration does not load the key manager).
 */
export const PUBLISHED_SETS = ['hydra.openid.id-token', 'hydra.jwt.access-token'] as const;

export type Fate = 'implemented' | 'ignored' | 'pending' | 'refused';

/** A value of a refused key that is safe to ignore, because Portcullis already behaves that way. */
export interface Harmless {
  /** The value, as the docs describe it (`false`, an empty list, …). */
  readonly when: string;
  readonly test: (value: unknown) => boolean;
  readonly why: string;
}

export interface KeyFate {
  readonly fate: Fate;
  /** Why, in a phrase the warning, the error and the docs all show. Empty for most implemented keys. */
  readonly why: string;
  readonly harmless?: Harmless;
}

const implemented = (why = ''): KeyFate => ({ fate: 'implemented', why });
const ignored = (why: string): KeyFate => ({ fate: 'ignored', why });
const pending = (why: string): KeyFate => ({ fate: 'pending', why });
const refused = (why: string, harmless?: Harmless): KeyFate => ({ fate: 'refused', why, ...(harmless ? { harmless } : {}) });

/** `false`, as a file (`false`) or the environment (`false`, `0`) writes it. */
const isFalse = (value: unknown) => value === false || value === 'false' || value === '0';
const isTrue = (value: unknown) => value === true || value === 'true' || value === '1';
/** A list from a file, or comma-separated from the environment. */
const listOf = (value: unknown): unknown[] | undefined =>
  Array.isArray(value)
    ? value
    : typeof value === 'string'
      ? value
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== '')
      : undefined;

const whenFalse = (why: string): Harmless => ({ when: '`false`', test: isFalse, why });

// The refusal of TLS lives here alone: implementing TLS adds the keys to the schema and deletes these entries.
const TLS = refused('TLS is not supported yet: terminate TLS in front of Portcullis (a reverse proxy or load balancer) and remove the key');
const tlsKeys = (prefix: string): Record<string, KeyFate> => ({
  [`${prefix}.tls.key.path`]: TLS,
  [`${prefix}.tls.key.base64`]: TLS,
  [`${prefix}.tls.cert.path`]: TLS,
  [`${prefix}.tls.cert.base64`]: TLS,
});

const UNIX_SOCKET = pending('Unix sockets are not supported yet; the key only applies to a `unix:` listener host');
const CORS_PASSTHROUGH = refused(
  'not implemented yet: Portcullis answers CORS preflight requests itself instead of passing them on',
  whenFalse('`false` is what Portcullis does: it answers preflight requests itself'),
);
const CORS_DEBUG = ignored('CORS decisions are not logged separately; use `log.level: debug` for request logs');
const BASE_URL = ignored('Hydra reads it only for its usage statistics, which Portcullis does not send');

const listener = (name: 'public' | 'admin'): Record<string, KeyFate> => ({
  [`serve.${name}.request_log.disable_for_health`]: implemented(),
  [`serve.${name}.base_url`]: BASE_URL,
  [`serve.${name}.host`]: implemented('empty (the default) binds all interfaces, as Hydra’s `0.0.0.0`'),
  [`serve.${name}.port`]: implemented(),
  [`serve.${name}.socket.owner`]: UNIX_SOCKET,
  [`serve.${name}.socket.group`]: UNIX_SOCKET,
  [`serve.${name}.socket.mode`]: UNIX_SOCKET,
  ...tlsKeys(`serve.${name}`),
  [`serve.${name}.cors.enabled`]: implemented(),
  [`serve.${name}.cors.allowed_origins`]: implemented(),
  [`serve.${name}.cors.allowed_methods`]: implemented(),
  [`serve.${name}.cors.allowed_headers`]: implemented(),
  [`serve.${name}.cors.exposed_headers`]: implemented(),
  [`serve.${name}.cors.allow_credentials`]: implemented(),
  [`serve.${name}.cors.options_passthrough`]: CORS_PASSTHROUGH,
  [`serve.${name}.cors.max_age`]: implemented(),
  [`serve.${name}.cors.debug`]: CORS_DEBUG,
});

const HSM_PART = ignored('read only when `hsm.enabled` is true, which Portcullis refuses');
const DISCOVERY = refused('not implemented yet: it changes the discovery document clients read');
const DEVICE = pending('the device authorization grant (RFC 8628) is not implemented yet, so nothing uses it');
const IDENTITY_PROVIDER = refused(
  'not implemented yet: a logout would not end the session at the identity provider (Kratos), leaving the user signed in there',
);
const JWT_GRANT = pending(
  'the JWT-bearer authorization grant (RFC 7523) is not implemented yet; client assertions always need `jti` and `iat` and grant no audience',
);
const TOKEN_HOOK = refused('not implemented yet: tokens would be issued without the claims the hook adds, and without its veto');
const REFRESH_HOOK = refused(
  'not implemented yet: refreshed tokens would be issued without the claims the hook adds, and without its veto',
);
const JAEGER_REMOTE_SAMPLING = pending(
  'sampling strategies are not fetched from Jaeger: `tracing.providers.jaeger.sampling.trace_id_ratio` decides which traces are recorded',
);

/** Every key of Hydra's configuration (spec/config.json, the shared schemas expanded), in its order. */
export const HYDRA_KEYS: Readonly<Record<string, KeyFate>> = {
  'db.ignore_unknown_table_columns': ignored('Portcullis reads the columns it names, so unknown columns never matter'),
  'log.level': implemented('Hydra’s `panic` is accepted and logs as `fatal`'),
  'log.leak_sensitive_values': implemented(),
  'log.redaction_text': implemented(),
  'log.format': implemented('`json_pretty` prints indented JSON; the default is `json`, Hydra’s is `text`'),
  ...listener('public'),
  ...listener('admin'),
  ...tlsKeys('serve'),
  'serve.cookies.same_site_mode': implemented(),
  'serve.cookies.same_site_legacy_workaround': implemented(),
  'serve.cookies.domain': implemented(),
  'serve.cookies.secure': implemented('the default is `true` outside development mode, where Hydra’s is `false`'),
  'serve.cookies.names.device_csrf': DEVICE,
  'serve.cookies.names.login_csrf': implemented(),
  'serve.cookies.names.consent_csrf': implemented(),
  'serve.cookies.names.session': implemented(),
  'serve.cookies.paths.session': implemented(),
  dsn: implemented(),
  'clients.http.disallow_private_ip_ranges': implemented(),
  'clients.http.private_ip_exception_urls': implemented(),
  'hsm.enabled': refused(
    'hardware security modules are not supported: Portcullis keeps its signing keys in the database, sealed with `secrets.system`',
    whenFalse('`false` turns the HSM off, as Portcullis always is'),
  ),
  'hsm.library': HSM_PART,
  'hsm.pin': HSM_PART,
  'hsm.slot': HSM_PART,
  'hsm.token_label': HSM_PART,
  'hsm.key_set_prefix': HSM_PART,
  'webfinger.jwks.broadcast_keys': refused('not implemented yet: it changes which keys `/.well-known/jwks.json` publishes', {
    when: `a list of ${PUBLISHED_SETS.map((set) => `\`${set}\``).join(' and ')} only`,
    test: (value) => listOf(value)?.every((set) => (PUBLISHED_SETS as readonly unknown[]).includes(set)) ?? false,
    why: `Portcullis always publishes the keys of ${PUBLISHED_SETS.join(' and ')}`,
  }),
  'webfinger.oidc_discovery.jwks_url': DISCOVERY,
  'webfinger.oidc_discovery.token_url': DISCOVERY,
  'webfinger.oidc_discovery.auth_url': DISCOVERY,
  'webfinger.oidc_discovery.device_authorization_url': DISCOVERY,
  'webfinger.oidc_discovery.client_registration_url': DISCOVERY,
  'webfinger.oidc_discovery.supported_claims': DISCOVERY,
  'webfinger.oidc_discovery.supported_scope': DISCOVERY,
  'webfinger.oidc_discovery.userinfo_url': DISCOVERY,
  'oidc.subject_identifiers.supported_types': implemented(),
  'oidc.subject_identifiers.pairwise.salt': implemented(),
  'oidc.dynamic_client_registration.enabled': implemented(),
  'oidc.dynamic_client_registration.default_scope': implemented(),
  'urls.self.issuer': implemented(),
  'urls.self.public': implemented(),
  'urls.self.admin': implemented(),
  'urls.login': implemented(),
  'urls.registration': implemented(),
  'urls.consent': implemented(),
  'urls.logout': implemented(),
  'urls.device.verification': DEVICE,
  'urls.device.success': DEVICE,
  'urls.error': implemented(),
  'urls.post_logout_redirect': implemented(),
  'urls.identity_provider.url': IDENTITY_PROVIDER,
  'urls.identity_provider.publicUrl': IDENTITY_PROVIDER,
  'urls.identity_provider.headers': IDENTITY_PROVIDER,
  'strategies.scope': implemented(),
  'strategies.access_token': implemented(),
  'strategies.jwt.scope_claim': implemented(),
  'ttl.login_consent_request': implemented(),
  'ttl.authentication_session': implemented(),
  'ttl.access_token': implemented(),
  'ttl.refresh_token': implemented('`-1` (a string or a number) means refresh tokens never expire'),
  'ttl.id_token': implemented(),
  'ttl.auth_code': implemented(),
  'ttl.device_user_code': DEVICE,
  'oauth2.expose_internal_errors': implemented(),
  'oauth2.session.encrypt_at_rest': refused(
    'not implemented yet: the session data stored with tokens (claims, `ext`) is not encrypted',
    whenFalse('`false` stores session data unencrypted, as Portcullis does'),
  ),
  'oauth2.exclude_not_before_claim': refused(
    'not implemented yet: JWT access tokens always carry `nbf`',
    whenFalse('`false` keeps `nbf` in JWT access tokens, as Portcullis does'),
  ),
  'oauth2.allowed_top_level_claims': refused('not implemented yet: it adds consent session claims to the top level of JWT access tokens', {
    when: 'an empty list',
    test: (value) => listOf(value)?.length === 0,
    why: 'an empty list adds no top-level claims, as Portcullis does',
  }),
  'oauth2.mirror_top_level_claims': ignored(
    'it only affects the claims named by `oauth2.allowed_top_level_claims`, which must be empty here',
  ),
  'oauth2.preserve_ext_claims': refused(
    'not implemented yet: it changes the claims of JWT access tokens',
    whenFalse('`false` is what Portcullis does'),
  ),
  'oauth2.hashers.algorithm': implemented(),
  'oauth2.hashers.bcrypt.cost': implemented(),
  'oauth2.hashers.pbkdf2.iterations': implemented(),
  'oauth2.pkce.enforced': implemented(),
  'oauth2.pkce.enforced_for_public_clients': implemented(),
  'oauth2.client_credentials.default_grant_allowed_scope': implemented(),
  'oauth2.grant.refresh_token.rotation_grace_period': implemented(),
  'oauth2.grant.refresh_token.rotation_grace_reuse_count': implemented(),
  'oauth2.grant.jwt.jti_optional': JWT_GRANT,
  'oauth2.grant.jwt.iat_optional': JWT_GRANT,
  'oauth2.grant.jwt.max_ttl': implemented('applied to client assertions (`private_key_jwt`)'),
  'oauth2.grant.jwt.omit_assertion_audience': JWT_GRANT,
  'oauth2.refresh_token_hook.url': REFRESH_HOOK,
  'oauth2.refresh_token_hook.auth.type': REFRESH_HOOK,
  'oauth2.refresh_token_hook.auth.config.in': REFRESH_HOOK,
  'oauth2.refresh_token_hook.auth.config.name': REFRESH_HOOK,
  'oauth2.refresh_token_hook.auth.config.value': REFRESH_HOOK,
  'oauth2.refresh_token_hook': REFRESH_HOOK,
  'oauth2.device_authorization.token_polling_interval': DEVICE,
  'oauth2.device_authorization.user_code.entropy_preset': DEVICE,
  'oauth2.device_authorization.user_code.length': DEVICE,
  'oauth2.device_authorization.user_code.character_set': DEVICE,
  'oauth2.device_authorization.user_code': DEVICE,
  'oauth2.token_hook.url': TOKEN_HOOK,
  'oauth2.token_hook.auth.type': TOKEN_HOOK,
  'oauth2.token_hook.auth.config.in': TOKEN_HOOK,
  'oauth2.token_hook.auth.config.name': TOKEN_HOOK,
  'oauth2.token_hook.auth.config.value': TOKEN_HOOK,
  'oauth2.token_hook': TOKEN_HOOK,
  'secrets.system': implemented(),
  'secrets.cookie': implemented(),
  'secrets.pagination': ignored(
    'page tokens of the admin API carry only the last item’s id, which the caller may see, so nothing is encrypted',
  ),
  profiling: ignored('Go’s profiler has no counterpart; use Node’s `--cpu-prof` or `--heap-prof`'),
  'tracing.provider': implemented(),
  'tracing.service_name': implemented('the default is `Portcullis`, where Hydra’s is `Ory Hydra`'),
  'tracing.deployment_environment': implemented(),
  'tracing.providers.jaeger.local_agent_address': implemented(
    'its host receives the spans over OTLP/HTTP on port 4318 (Jaeger’s OTLP receiver), not over the agent’s UDP protocol',
  ),
  'tracing.providers.jaeger.sampling.server_url': JAEGER_REMOTE_SAMPLING,
  'tracing.providers.jaeger.sampling.trace_id_ratio': implemented(),
  'tracing.providers.zipkin.server_url': implemented(),
  'tracing.providers.zipkin.sampling.sampling_ratio': implemented(),
  'tracing.providers.otlp.server_url': implemented(),
  'tracing.providers.otlp.insecure': implemented(),
  'tracing.providers.otlp.sampling.sampling_ratio': implemented(),
  'tracing.providers.otlp.authorization_header': implemented(),
  'sqa.opt_out': ignored('Portcullis sends no usage statistics'),
  version: ignored('it names the version a Hydra configuration was written for; Portcullis reads every version alike'),
  'cgroups.v1.auto_max_procs_enabled': ignored('Node.js sizes its thread pool itself; there is no GOMAXPROCS'),
  dev: implemented(),
  'feature_flags.legacy_allow_insecure_origins': refused(
    'not implemented yet: Portcullis cannot refuse unbounded `*` patterns in CORS origins as Hydra does by default',
    {
      when: '`true`',
      test: isTrue,
      why: 'Portcullis matches `*` in CORS origins as Hydra’s legacy mode does',
    },
  ),
};

/** Hydra keys the schema does not have, each with what Portcullis does instead. */
export function hydraOnlyKeys(): Array<[string, KeyFate]> {
  return Object.entries(HYDRA_KEYS).filter(([, fate]) => fate.fate !== 'implemented');
}
