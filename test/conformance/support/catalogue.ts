/**
 * The OpenID Foundation conformance suite's OP test plans, module by module (our wording of
 * ../shared/reference/conformance-modules.md). The suite cannot run here, so each module is a named
 * test of ours (`it('<module id>: …')` in test/conformance/<plan>.test.ts) and docs/conformance.md
 * has one row per module and variant; test/conformance-report.test.ts holds the three together.
 */

export type PlanId =
  | 'basic'
  | 'config'
  | 'dynamic'
  | 'form-post'
  | 'implicit'
  | 'hybrid'
  | 'rp-initiated-logout'
  | 'backchannel-logout'
  | 'frontchannel-logout';

export interface ModuleEntry {
  id: string;
  /** What the module checks, in one line. */
  summary: string;
}

export interface Plan {
  id: PlanId;
  title: string;
  /** The test file that covers the plan, relative to the repository root. */
  file: string;
  /** The suite's variants this plan runs under (each module runs once per variant). */
  variants: string[];
  modules: ModuleEntry[];
}

const m = (id: string, summary: string): ModuleEntry => ({ id, summary });

/** The Basic OP plan's 38 modules (response_type=code). */
export const BASIC_MODULES: ModuleEntry[] = [
  m('oidcc-server', 'happy path: discovery, code, token exchange, ID token and userinfo checks'),
  m('oidcc-response-type-missing', 'no response_type: error redirect (unsupported_response_type / invalid_request) or error page'),
  m('oidcc-idtoken-signature', 'no alg requested: ID token signed with RS256, verifiable through the JWKS kid'),
  m('oidcc-idtoken-unsigned', 'id_token_signed_response_alg=none (dynamic clients only); skipped by the suite when discovery lacks none'),
  m('oidcc-userinfo-get', 'GET userinfo with a bearer token returns valid claims'),
  m('oidcc-userinfo-post-header', 'POST userinfo with Authorization: Bearer'),
  m('oidcc-userinfo-post-body', 'POST userinfo with the access_token form parameter (optional: warning if refused)'),
  m('oidcc-ensure-request-without-nonce-succeeds-for-code-flow', 'nonce is optional in the pure code flow'),
  m('oidcc-scope-profile', 'profile scope yields profile claims'),
  m('oidcc-scope-email', 'email scope yields email claims'),
  m('oidcc-scope-address', 'address scope yields the address claim'),
  m('oidcc-scope-phone', 'phone scope yields phone claims'),
  m('oidcc-scope-all', 'all four scopes together'),
  m('oidcc-alternate-happy-flow', 'scope order and query-parameter order do not matter'),
  m('oidcc-display-page', 'display=page accepted'),
  m('oidcc-display-popup', 'display=popup accepted'),
  m('oidcc-prompt-login', 'prompt=login forces a new login; a later auth_time'),
  m('oidcc-prompt-none-not-logged-in', 'prompt=none without a session: login_required error redirect'),
  m('oidcc-prompt-none-logged-in', 'prompt=none with a session succeeds silently; same sub and auth_time'),
  m('oidcc-max-age-1', 'max_age=1 after a second forces re-authentication; auth_time present'),
  m('oidcc-max-age-10000', 'a large max_age reuses the session; auth_time and sub consistent'),
  m('oidcc-ensure-request-with-unknown-parameter-succeeds', 'unknown parameters are ignored (RFC 6749 §3.1)'),
  m('oidcc-id-token-hint', 'prompt=none with id_token_hint of the first ID token succeeds, same sub'),
  m('oidcc-login-hint', 'login_hint accepted'),
  m('oidcc-ui-locales', 'ui_locales accepted'),
  m('oidcc-claims-locales', 'claims_locales accepted'),
  m('oidcc-ensure-request-with-acr-values-succeeds', 'acr_values accepted; acr returned should match (warning otherwise)'),
  m('oidcc-codereuse', 'a second use of a code: invalid_grant'),
  m('oidcc-codereuse-30seconds', 'reuse after 30 s: invalid_grant, and the first tokens revoked'),
  m('oidcc-ensure-registered-redirect-uri', 'unregistered redirect_uri: error page, no redirect'),
  m('oidcc-ensure-post-request-succeeds', 'the authorization endpoint accepts a POSTed form'),
  m('oidcc-server-client-secret-post', 'happy path with client_secret_post'),
  m(
    'oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported',
    'unsigned request_uri processed, or request_uri_not_supported',
  ),
  m(
    'oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported',
    'unsigned request object processed, or request_not_supported',
  ),
  m('oidcc-claims-essential', 'claims parameter with essential name succeeds (warning if not returned)'),
  m('oidcc-ensure-request-object-with-redirect-uri', 'redirect_uri inside the request object wins over the query one (or error page)'),
  m('oidcc-refresh-token', 'refresh works, bound to the client, offline_access honoured'),
  m('oidcc-ensure-request-with-valid-pkce-succeeds', 'valid S256 PKCE never breaks a request'),
];

/** The Dynamic OP plan's 23 modules (discovery, private_key_jwt, dynamically registered clients). */
export const DYNAMIC_MODULES: ModuleEntry[] = [
  m('oidcc-idtoken-rs256', 'RS256-signed ID token on request'),
  m('oidcc-idtoken-unsigned', 'as Basic: alg none, skipped when not offered'),
  m('oidcc-userinfo-rs256', 'userinfo_signed_response_alg=RS256 gives a signed userinfo JWT'),
  m('oidcc-ensure-redirect-uri-in-authorization-request', 'client with two redirect URIs omits redirect_uri: error page'),
  m('oidcc-redirect-uri-query-OK', 'registered redirect URI with a query string works'),
  m('oidcc-redirect-uri-query-mismatch', 'a different query: error page'),
  m('oidcc-redirect-uri-query-added', 'a query added to a query-less registered URI: error page'),
  m('oidcc-redirect-uri-regfrag', 'registering a redirect URI with a fragment: registration error'),
  m('oidcc-discovery-endpoint-verification', 'discovery has the required values'),
  m('oidcc-server', 'happy path with a dynamically registered client'),
  m('oidcc-registration-logo-uri', 'logo_uri accepted and shown on the login page'),
  m('oidcc-registration-policy-uri', 'policy_uri accepted and linked'),
  m('oidcc-registration-tos-uri', 'tos_uri accepted and linked'),
  m('oidcc-registration-jwks-uri', 'a client registered with jwks_uri authenticates with private_key_jwt'),
  m('oidcc-registration-sector-uri', 'a sector_identifier_uri listing the redirect URI is accepted'),
  m('oidcc-registration-sector-bad', 'a sector document missing the redirect URI: registration error'),
  m('oidcc-server-rotate-keys', 'OP signing key rotation: the JWKS has the new key and still the old one'),
  m('oidcc-refresh-token-rp-key-rotation', 'the RP rotates its jwks_uri key; refresh with the new kid works (the OP refetches)'),
  m('oidcc-request-uri-unsigned', 'request_uri to an unsigned request object works'),
  m('oidcc-request-uri-signed-rs256', 'request_uri to an RS256-signed request object works'),
  m('oidcc-ensure-request-object-with-redirect-uri', 'as Basic'),
  m('oidcc-refresh-token', 'as Basic'),
  m('oidcc-ensure-client-assertion-with-iss-aud-succeeds', 'a client assertion with the issuer as aud is accepted (warning only)'),
];

/** Modules of the Basic list that only make sense when the token endpoint returns a code's tokens. */
const CODE_ONLY = new Set([
  'oidcc-codereuse',
  'oidcc-codereuse-30seconds',
  'oidcc-refresh-token',
  'oidcc-ensure-request-without-nonce-succeeds-for-code-flow',
  'oidcc-ensure-request-with-valid-pkce-succeeds',
  'oidcc-idtoken-unsigned',
  'oidcc-server-client-secret-post',
]);

/** The Implicit plan: Basic's modules that apply without a code, plus the nonce requirement. */
export const IMPLICIT_MODULES: ModuleEntry[] = [
  ...BASIC_MODULES.filter((module) => !CODE_ONLY.has(module.id)),
  m('oidcc-ensure-request-without-nonce-fails', 'an ID token in the front channel without nonce: error redirect'),
];

/** The Hybrid plan: Basic's modules (a code comes back, so code reuse and refresh apply) plus the nonce requirement. */
export const HYBRID_MODULES: ModuleEntry[] = [
  ...BASIC_MODULES.filter(
    (module) => !['oidcc-ensure-request-without-nonce-succeeds-for-code-flow', 'oidcc-idtoken-unsigned'].includes(module.id),
  ),
  m('oidcc-ensure-request-without-nonce-fails', 'an ID token in the front channel without nonce: error redirect'),
];

export const RP_INITIATED_LOGOUT_MODULES: ModuleEntry[] = [
  m('oidcc-rp-initiated-logout-discovery-endpoint-verification', 'discovery has end_session_endpoint'),
  m('oidcc-rp-initiated-logout', 'logout redirects to post_logout_redirect_uri with state; a later prompt=none fails'),
  m('oidcc-rp-initiated-logout-bad-post-logout-redirect-uri', 'unregistered post_logout_redirect_uri: no redirect'),
  m('oidcc-rp-initiated-logout-modified-id-token-hint', 'id_token_hint altered to alg none: no redirect'),
  m('oidcc-rp-initiated-logout-no-id-token-hint', 'a redirect URI without id_token_hint: no redirect (or confirmation)'),
  m('oidcc-rp-initiated-logout-no-params', 'no parameters: plain logged-out page'),
  m('oidcc-rp-initiated-logout-no-post-logout-redirect-uri', 'id_token_hint without a redirect URI: logged-out page'),
  m('oidcc-rp-initiated-logout-no-state', 'no state: redirect without state'),
  m('oidcc-rp-initiated-logout-only-state', 'only state: plain logged-out page'),
  m('oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri', 'a query added to the registered URI: no redirect'),
  m('oidcc-rp-initiated-logout-bad-id-token-hint', 'an id_token_hint signed by someone else: no redirect'),
];

export const PLANS: Plan[] = [
  {
    id: 'basic',
    title: 'Basic OP',
    file: 'test/conformance/basic.test.ts',
    variants: ['client_secret_basic', 'client_secret_post'],
    modules: BASIC_MODULES,
  },
  {
    id: 'config',
    title: 'Config OP',
    file: 'test/conformance/config.test.ts',
    variants: ['discovery'],
    modules: [m('oidcc-discovery-endpoint-verification', 'discovery has the required values; the JWKS is valid')],
  },
  {
    id: 'dynamic',
    title: 'Dynamic OP',
    file: 'test/conformance/dynamic.test.ts',
    variants: ['private_key_jwt, dynamic client, code'],
    modules: DYNAMIC_MODULES,
  },
  {
    id: 'form-post',
    title: 'Form Post OP (response_mode=form_post)',
    file: 'test/conformance/form-post.test.ts',
    variants: ['code, client_secret_basic, form_post'],
    modules: BASIC_MODULES,
  },
  {
    id: 'implicit',
    title: 'Implicit OP',
    file: 'test/conformance/implicit.test.ts',
    variants: ['id_token', 'id_token token'],
    modules: IMPLICIT_MODULES,
  },
  {
    id: 'hybrid',
    title: 'Hybrid OP',
    file: 'test/conformance/hybrid.test.ts',
    variants: ['code id_token', 'code token', 'code id_token token'],
    modules: HYBRID_MODULES,
  },
  {
    id: 'rp-initiated-logout',
    title: 'RP-Initiated Logout OP',
    file: 'test/conformance/rp-initiated-logout.test.ts',
    variants: ['code, client_secret_basic'],
    modules: RP_INITIATED_LOGOUT_MODULES,
  },
  {
    id: 'backchannel-logout',
    title: 'Back-Channel Logout OP',
    file: 'test/conformance/backchannel-logout.test.ts',
    variants: ['code, client_secret_basic'],
    modules: [
      m(
        'oidcc-backchannel-rp-initiated-logout-discovery-endpoint-verification',
        'discovery advertises backchannel_logout_supported and _session_supported',
      ),
      m(
        'oidcc-backchannel-rp-initiated-logout',
        'end-session POSTs a logout token (with sid) to backchannel_logout_uri, redirects and ends the session',
      ),
    ],
  },
  {
    id: 'frontchannel-logout',
    title: 'Front-Channel Logout OP',
    file: 'test/conformance/frontchannel-logout.test.ts',
    variants: ['code, client_secret_basic'],
    modules: [
      m(
        'oidcc-frontchannel-rp-initiated-logout-discovery-endpoint-verification',
        'discovery advertises frontchannel_logout_supported and _session_supported',
      ),
      m(
        'oidcc-frontchannel-rp-initiated-logout',
        "end-session renders the RP's frontchannel_logout_uri (iss, sid) in the browser and ends the session",
      ),
    ],
  },
];

/** The plan of a test file's id. */
export function plan(id: PlanId): Plan {
  const found = PLANS.find((entry) => entry.id === id);
  if (!found) throw new Error(`no plan ${id}`);
  return found;
}
