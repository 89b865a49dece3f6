import type { OAuth2Client } from '../client/model.js';
import type { Config } from '../config/schema.js';
import { InvalidClientError, InvalidRequestError, UnsupportedResponseTypeError } from '../http/errors.js';

/**
 * The FAPI 2.0 Security Profile (OpenID FAPI 2.0 Security Profile, final), switched on for every
 * client with `oauth2.fapi2_security_profile.enabled`, or for one client with its
 * `fapi2_security_profile` metadata. Hydra has no such profile; the profile is the authority.
 * Each rule is one small check, called where the rule applies:
 *
 * - §5.3.2.2: every authorization request pushed (PAR), `response_type=code` only, PKCE with S256,
 *   `redirect_uri` always sent (and matched exactly, as for every client), `iss` in the
 *   authorization response (always sent here), `request_uri`s that live less than 600 seconds;
 * - §5.3.2.1: confidential clients only, authenticated with `private_key_jwt` (mTLS is not
 *   offered), whose assertion's `aud` is the issuer identifier as a string; sender-constrained
 *   access tokens (DPoP: every token request carries a proof); authorization codes live at most
 *   60 seconds;
 * - §5.4.1: client assertions, request objects and DPoP proofs signed with PS256, ES256 or EdDSA (Ed25519).
 *
 * Refresh tokens keep the server's rotation (the profile discourages rotation but requires nothing
 * of a server that rotates).
 */

/** §5.4.1: the signing algorithms the profile allows (EdDSA with Ed25519 only, which `keyFits` and jose check by curve). */
export const FAPI2_SIGNING_ALGS = ['PS256', 'ES256', 'EdDSA'] as const;
/**
 * §5.4.1 for DPoP proofs: the same algorithms, with RFC 9864's fully specified `Ed25519` (EdDSA with
 * the Ed25519 curve, which oauth4webapi signs Ed25519 keys with) beside `EdDSA`.
 */
export const FAPI2_DPOP_SIGNING_ALGS = [...FAPI2_SIGNING_ALGS, 'Ed25519'] as const;
/** §5.3.2.1: the longest an authorization code may live. */
export const FAPI2_MAX_CODE_LIFESPAN_MS = 60_000;
/** §5.3.2.2: a `request_uri`'s `expires_in` must be less than 600 seconds. */
export const FAPI2_MAX_REQUEST_URI_LIFESPAN_MS = 599_000;

type ConfigDeps = { config: Config };

/** Whether the profile applies to this client: globally, or by its own metadata. */
export function fapi2Applies(deps: ConfigDeps, client: OAuth2Client): boolean {
  return deps.config.oauth2.fapi2_security_profile.enabled || client.fapi2_security_profile === true;
}

/** Whether the profile applies to every client (what discovery advertises). */
export function fapi2Global(deps: ConfigDeps): boolean {
  return deps.config.oauth2.fapi2_security_profile.enabled;
}

/**
 * §5.3.2.2: the authorization request's own checks. Runs on the request as pushed (the only kind
 * accepted, `pushRequired`), so its errors reach the client as JSON from the PAR endpoint.
 */
export function checkFapi2AuthorizationRequest(
  deps: ConfigDeps,
  client: OAuth2Client,
  request: { responseTypes: ReadonlySet<string>; codeChallenge: string; redirectUriSent: boolean },
): void {
  if (!fapi2Applies(deps, client)) return;
  if (request.responseTypes.size !== 1 || !request.responseTypes.has('code')) {
    throw new UnsupportedResponseTypeError('The FAPI 2.0 Security Profile allows only response_type=code.');
  }
  if (request.codeChallenge === '') {
    throw new InvalidRequestError('The FAPI 2.0 Security Profile requires PKCE: send a code_challenge with code_challenge_method=S256.');
  }
  if (!request.redirectUriSent) {
    throw new InvalidRequestError('The FAPI 2.0 Security Profile requires the "redirect_uri" parameter in every authorization request.');
  }
}

/**
 * §5.3.2.1: only confidential clients, authenticated with `private_key_jwt`. Checked after the
 * client authenticated with its registered method, so the answer may name the method.
 */
export function checkFapi2ClientAuthentication(deps: ConfigDeps, client: OAuth2Client): void {
  if (!fapi2Applies(deps, client) || client.token_endpoint_auth_method === 'private_key_jwt') return;
  throw new InvalidClientError(
    `The FAPI 2.0 Security Profile requires client authentication with private_key_jwt; this client is registered for "${client.token_endpoint_auth_method}".`,
  );
}

/**
 * §5.3.2.1: a client assertion's `aud` must be this server's issuer identifier, as a string (not
 * the token endpoint, not an array), exactly as discovery's `issuer` says it.
 */
export function checkFapi2AssertionAudience(deps: ConfigDeps, client: OAuth2Client, aud: unknown): void {
  if (!fapi2Applies(deps, client)) return;
  const issuer = deps.config.urls.self.issuer;
  if (aud !== issuer) {
    throw new InvalidClientError(
      `The FAPI 2.0 Security Profile requires the "aud" claim of the client_assertion to be the issuer (${issuer}) as a single string.`,
    );
  }
}

/**
 * §5.4.1: the algorithms a client assertion or request object of this client may be signed with:
 * `allowed` narrowed to the profile's when it applies.
 */
export function fapi2SigningAlgs(deps: ConfigDeps, client: OAuth2Client, allowed: readonly string[]): string[] {
  if (!fapi2Applies(deps, client)) return [...allowed];
  return allowed.filter((alg) => (FAPI2_SIGNING_ALGS as readonly string[]).includes(alg));
}

/** §5.4.1: the algorithms accepted from a client that registered none: the profile's, or `defaults` without it. */
export function fapi2DefaultSigningAlgs(deps: ConfigDeps, client: OAuth2Client, defaults: readonly string[]): string[] {
  return fapi2Applies(deps, client) ? [...FAPI2_SIGNING_ALGS] : [...defaults];
}

/**
 * §5.4.1: the algorithms a DPoP proof may be signed with: `allowed` (`oauth2.dpop.signing_alg_values`)
 * narrowed to the profile's when it applies, to this client or (without one) to every client.
 */
export function fapi2DpopSigningAlgs(deps: ConfigDeps, client: OAuth2Client | undefined, allowed: readonly string[]): string[] {
  const applies = client === undefined ? fapi2Global(deps) : fapi2Applies(deps, client);
  return applies ? allowed.filter((alg) => (FAPI2_DPOP_SIGNING_ALGS as readonly string[]).includes(alg)) : [...allowed];
}

/** §5.3.2.1: sender-constrained access tokens, by DPoP: a token request without a proof is refused. */
export function fapi2RequiresDpop(deps: ConfigDeps, client: OAuth2Client): boolean {
  return fapi2Applies(deps, client);
}

/** §5.3.2.1: an authorization code's lifespan, at most 60 seconds under the profile. */
export function fapi2CodeLifespan(deps: ConfigDeps, client: OAuth2Client, lifespan: number): number {
  return fapi2Applies(deps, client) ? Math.min(lifespan, FAPI2_MAX_CODE_LIFESPAN_MS) : lifespan;
}

/** §5.3.2.2: a `request_uri`'s lifespan, less than 600 seconds under the profile. */
export function fapi2RequestUriLifespan(deps: ConfigDeps, client: OAuth2Client, lifespan: number): number {
  return fapi2Applies(deps, client) ? Math.min(lifespan, FAPI2_MAX_REQUEST_URI_LIFESPAN_MS) : lifespan;
}
