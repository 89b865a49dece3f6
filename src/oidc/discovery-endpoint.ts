import { SIGNING_ALGS } from '../client/model.js';
import { issuerUrl, publicUrl } from '../config/urls.js';
import type { RouteModule } from '../http/app.js';
import { ID_TOKEN_SET } from '../jwk/manager.js';
import type { SigningKeyDeps } from '../oauth2/deps.js';
import { dpopSigningAlgs } from '../oauth2/dpop/proof.js';
import { FAPI2_SIGNING_ALGS, fapi2Global } from '../oauth2/fapi2.js';
import { DEVICE_CODE_GRANT_TYPE } from '../oauth2/grants/device-code.js';
import { JWT_BEARER_GRANT_TYPE } from '../oauth2/grants/jwt-bearer.js';
import { TOKEN_EXCHANGE_GRANT_TYPE } from '../oauth2/token-types.js';
import { CREDENTIALS_SUPPORTED } from './credentials-supported.js';

const STANDARD_CLAIMS = ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'rat', 'nonce', 'acr', 'amr', 'sid', 'at_hash', 'c_hash'];
const STANDARD_SCOPES = ['offline_access', 'offline', 'openid', 'userinfo_credential_draft_00'];

/**
 * The provider metadata: every field Hydra emits, derived from configuration and the live keys.
 * Only what works is advertised: S256 alone for PKCE, no request objects, no claims parameter.
 */
export async function providerMetadata(registry: SigningKeyDeps): Promise<Record<string, unknown>> {
  const { config } = registry;
  const issuer = config.urls.self.issuer;
  const { alg } = await registry.keys.signingKey(ID_TOKEN_SET);
  // Hydra's `webfinger.oidc_discovery.*`: endpoints served elsewhere (behind a gateway) and extra claims and scopes.
  const overrides = config.webfinger.oidc_discovery;
  // The FAPI 2.0 Security Profile for every client: advertise only what it allows (§5.3.2.1, §5.3.2.2, §5.4.1).
  const fapi2 = fapi2Global(registry);
  const authMethods = fapi2 ? ['private_key_jwt'] : ['client_secret_post', 'client_secret_basic', 'private_key_jwt', 'none'];
  const signingAlgs = fapi2 ? [...FAPI2_SIGNING_ALGS] : SIGNING_ALGS;
  const dpopAlgs = dpopSigningAlgs(registry);
  const registrationEndpoint =
    overrides.client_registration_url ||
    (config.oidc.dynamic_client_registration.enabled ? publicUrl(config, '/oauth2/register') : undefined);
  return {
    issuer,
    authorization_endpoint: overrides.auth_url || publicUrl(config, '/oauth2/auth'),
    token_endpoint: overrides.token_url || publicUrl(config, '/oauth2/token'),
    device_authorization_endpoint: overrides.device_authorization_url || publicUrl(config, '/oauth2/device/auth'),
    jwks_uri: overrides.jwks_url || issuerUrl(config, '/.well-known/jwks.json'),
    ...(registrationEndpoint ? { registration_endpoint: registrationEndpoint } : {}),
    revocation_endpoint: issuerUrl(config, '/oauth2/revoke'),
    end_session_endpoint: issuerUrl(config, '/oauth2/sessions/logout'),
    userinfo_endpoint: overrides.userinfo_url || publicUrl(config, '/userinfo'),
    subject_types_supported: config.oidc.subject_identifiers.supported_types,
    response_types_supported: fapi2 ? ['code'] : ['code', 'code id_token', 'id_token', 'token id_token', 'token', 'token id_token code'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    grant_types_supported: [
      'authorization_code',
      'implicit',
      'client_credentials',
      'refresh_token',
      DEVICE_CODE_GRANT_TYPE,
      JWT_BEARER_GRANT_TYPE,
      ...(config.oauth2.token_exchange.enabled ? [TOKEN_EXCHANGE_GRANT_TYPE] : []),
    ],
    claims_supported: [...new Set([...STANDARD_CLAIMS, ...overrides.supported_claims])],
    scopes_supported: [...new Set([...STANDARD_SCOPES, ...overrides.supported_scope])],
    token_endpoint_auth_methods_supported: authMethods,
    token_endpoint_auth_signing_alg_values_supported: signingAlgs,
    revocation_endpoint_auth_methods_supported: authMethods,
    id_token_signing_alg_values_supported: [alg],
    id_token_signed_response_alg: [alg],
    userinfo_signed_response_alg: [alg],
    userinfo_signing_alg_values_supported: ['none', alg],
    code_challenge_methods_supported: ['S256'],
    request_parameter_supported: true,
    request_uri_parameter_supported: true,
    // A request_uri must be one of the client's registered request_uris (fosite).
    require_request_uri_registration: true,
    request_object_signing_alg_values_supported: fapi2 ? signingAlgs : ['none', ...SIGNING_ALGS],
    claims_parameter_supported: false,
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    frontchannel_logout_supported: true,
    frontchannel_logout_session_supported: true,
    authorization_response_iss_parameter_supported: true,
    // RFC 9126 §5.
    pushed_authorization_request_endpoint: publicUrl(config, '/oauth2/par'),
    require_pushed_authorization_requests: config.oauth2.pushed_authorization_requests.required || fapi2,
    // draft-ietf-oauth-client-id-metadata-document §6: advertised only when on.
    ...(config.oauth2.client_id_metadata_documents.enabled ? { client_id_metadata_document_supported: true } : {}),
    // RFC 9449 §5.1 (Hydra has no DPoP); absent when no algorithm is accepted. The FAPI 2.0 profile narrows them (§5.4.1).
    ...(dpopAlgs.length > 0 ? { dpop_signing_alg_values_supported: dpopAlgs } : {}),
    credentials_endpoint_draft_00: publicUrl(config, '/credentials'),
    credentials_supported_draft_00: CREDENTIALS_SUPPORTED,
  };
}

/** `GET /.well-known/openid-configuration`, and the same document at the RFC 8414 address. */
export const discoveryEndpoint: RouteModule = (app, registry) => {
  for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
    app.get(path, async (_request, reply) => reply.header('cache-control', 'public, max-age=60').send(await providerMetadata(registry)));
  }
};
