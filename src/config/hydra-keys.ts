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
 * The built-in key sets `/.well-known/jwks.json` always publishes, for the docs of `webfinger.jwks.broadcast_keys`
 * (`BUILTIN_SETS` of jwk/manager.ts, which a test holds this to; not imported, so that reading the configuration
 * does not load the key manager).
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
const whenFalse = (why: string): Harmless => ({ when: '`false`', test: isFalse, why });

const tlsKeys = (prefix: string, why: string): Record<string, KeyFate> => ({
  [`${prefix}.tls.key.path`]: implemented(why),
  [`${prefix}.tls.key.base64`]: implemented(why),
  [`${prefix}.tls.cert.path`]: implemented(why),
  [`${prefix}.tls.cert.base64`]: implemented(why),
});
const LISTENER_TLS = 'wins over the `serve.tls` key of the same name';
const SHARED_TLS = 'HTTPS is served as soon as a certificate and key are set, where Hydra also wants `tls.enabled: true`';

const BASE_URL = ignored('Hydra reads it only for its usage statistics, which Portcullis does not send');

const listener = (name: 'public' | 'admin'): Record<string, KeyFate> => ({
  [`serve.${name}.request_log.disable_for_health`]: implemented(),
  [`serve.${name}.base_url`]: BASE_URL,
  [`serve.${name}.host`]: implemented('empty (the default) binds all interfaces, as Hydra’s `0.0.0.0`'),
  [`serve.${name}.port`]: implemented(),
  [`serve.${name}.socket.owner`]: implemented(),
  [`serve.${name}.socket.group`]: implemented(),
  [`serve.${name}.socket.mode`]: implemented(),
  ...tlsKeys(`serve.${name}`, LISTENER_TLS),
  [`serve.${name}.cors.enabled`]: implemented(),
  [`serve.${name}.cors.allowed_origins`]: implemented(),
  [`serve.${name}.cors.allowed_methods`]: implemented(),
  [`serve.${name}.cors.allowed_headers`]: implemented(),
  [`serve.${name}.cors.exposed_headers`]: implemented(),
  [`serve.${name}.cors.allow_credentials`]: implemented(),
  [`serve.${name}.cors.options_passthrough`]: implemented(),
  [`serve.${name}.cors.max_age`]: implemented(),
  [`serve.${name}.cors.debug`]: implemented('decisions are logged at `info`, through the server’s logger'),
});

const HSM_PART = ignored('read only when `hsm.enabled` is true, which Portcullis refuses');
const DEVICE = implemented();
const TOKEN_HOOK = implemented();
const REFRESH_HOOK = implemented();
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
  ...tlsKeys('serve', SHARED_TLS),
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
  'webfinger.jwks.broadcast_keys': implemented(),
  'webfinger.oidc_discovery.jwks_url': implemented(),
  'webfinger.oidc_discovery.token_url': implemented(),
  'webfinger.oidc_discovery.auth_url': implemented(),
  'webfinger.oidc_discovery.device_authorization_url': implemented(),
  'webfinger.oidc_discovery.client_registration_url': implemented(),
  'webfinger.oidc_discovery.supported_claims': implemented(),
  'webfinger.oidc_discovery.supported_scope': implemented(),
  'webfinger.oidc_discovery.userinfo_url': implemented(),
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
  'urls.identity_provider.url': implemented(),
  'urls.identity_provider.publicUrl': ignored(
    'Hydra reads it only for the resource owner password grant, which Portcullis does not offer (OAuth 2.0 Security BCP)',
  ),
  'urls.identity_provider.headers': implemented(),
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
  'oauth2.session.encrypt_at_rest': implemented(),
  'oauth2.exclude_not_before_claim': implemented(),
  'oauth2.allowed_top_level_claims': implemented(),
  'oauth2.mirror_top_level_claims': implemented(),
  'oauth2.preserve_ext_claims': implemented(),
  'oauth2.hashers.algorithm': implemented(),
  'oauth2.hashers.bcrypt.cost': implemented(),
  'oauth2.hashers.pbkdf2.iterations': implemented(),
  'oauth2.pkce.enforced': implemented(),
  'oauth2.pkce.enforced_for_public_clients': implemented(),
  'oauth2.client_credentials.default_grant_allowed_scope': implemented(),
  'oauth2.grant.refresh_token.rotation_grace_period': implemented(),
  'oauth2.grant.refresh_token.rotation_grace_reuse_count': implemented(),
  'oauth2.grant.jwt.jti_optional': implemented('for JWT-bearer grant assertions; client assertions always need a `jti`'),
  'oauth2.grant.jwt.iat_optional': implemented('for JWT-bearer grant assertions'),
  'oauth2.grant.jwt.max_ttl': implemented('applied to JWT-bearer grant assertions and to client assertions (`private_key_jwt`)'),
  'oauth2.grant.jwt.omit_assertion_audience': implemented(),
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
  'oauth2.device_authorization.user_code': implemented('an object of the three keys above'),
  'oauth2.token_hook.url': TOKEN_HOOK,
  'oauth2.token_hook.auth.type': TOKEN_HOOK,
  'oauth2.token_hook.auth.config.in': TOKEN_HOOK,
  'oauth2.token_hook.auth.config.name': TOKEN_HOOK,
  'oauth2.token_hook.auth.config.value': TOKEN_HOOK,
  'oauth2.token_hook': TOKEN_HOOK,
  'secrets.system': implemented(),
  'secrets.cookie': implemented(),
  'secrets.pagination': implemented(),
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
