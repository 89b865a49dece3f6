import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OAuth2Client } from '../../client/model.js';
import { publicUrl } from '../../config/urls.js';
import { InvalidGrantError, InvalidRequestError } from '../../http/errors.js';
import type { DpopDeps } from '../deps.js';
import { fapi2RequiresDpop } from '../fapi2.js';
import type { TokenSession } from '../token-store.js';
import { dpopHeader, dpopSigningAlgs, offeredDpopNonce, verifyDpopProof } from './proof.js';

/**
 * Sender-constrained tokens (RFC 9449 §5, §6, §10) at the token and authorization endpoints: which
 * key a token request proves, what a grant's tokens are bound to, and the checks of codes and refresh
 * tokens bound before. A grant's binding lives in its token session (`dpopJkt`), so it reaches the
 * JWT access token's `cnf`, introspection and resource requests without a column of its own.
 */

/** A SHA-256 JWK thumbprint, base64url (RFC 7638): what `dpop_jkt` and `cnf.jkt` carry. */
const THUMBPRINT = /^[A-Za-z0-9_-]{43}$/;

/** The URLs a token request's `htu` may name: the token endpoint, and the one discovery advertises instead when set. */
function tokenEndpointUrls(deps: DpopDeps): string[] {
  const { config } = deps;
  const override = config.webfinger.oidc_discovery.token_url;
  return [publicUrl(config, '/oauth2/token'), ...(override ? [override] : [])];
}

/**
 * The thumbprint of the key a token request proves, or undefined when it carries no proof. A client
 * registered with `dpop_bound_access_tokens` must send one (RFC 9449 §5.2: `invalid_request`).
 */
export async function tokenRequestKey(deps: DpopDeps, request: FastifyRequest, client: OAuth2Client): Promise<string | undefined> {
  const proof = dpopHeader(request);
  if (proof === undefined) {
    if (client.dpop_bound_access_tokens) {
      throw new InvalidRequestError('The client is registered with dpop_bound_access_tokens: its token requests must carry a DPoP proof.');
    }
    if (fapi2RequiresDpop(deps, client)) {
      throw new InvalidRequestError(
        'The FAPI 2.0 Security Profile requires sender-constrained tokens: token requests must carry a DPoP proof.',
      );
    }
    return undefined;
  }
  return verifyDpopProof(deps, proof, { algorithms: dpopSigningAlgs(deps, client), method: 'POST', urls: tokenEndpointUrls(deps) });
}

/**
 * A pushed authorization request's `DPoP` header (RFC 9449 §10.1): checked as at the token endpoint,
 * with `htu` the PAR endpoint, and the thumbprint of its key answered (undefined without a proof).
 * The request then behaves as if it had sent that thumbprint as `dpop_jkt` (`withProvenDpopJkt`).
 */
export async function pushedRequestKey(deps: DpopDeps, request: FastifyRequest, client: OAuth2Client): Promise<string | undefined> {
  const proof = dpopHeader(request);
  if (proof === undefined) return undefined;
  const urls = [publicUrl(deps.config, '/oauth2/par')];
  return verifyDpopProof(deps, proof, { algorithms: dpopSigningAlgs(deps, client), method: 'POST', urls });
}

/**
 * Pushed parameters bound to the key the push proved (RFC 9449 §10.1): its thumbprint becomes
 * `dpop_jkt` when the form has none, so the authorization request's own `dpop_jkt` checks run on it.
 */
export function withProvenDpopJkt(params: Record<string, string>, jkt: string | undefined): Record<string, string> {
  return jkt === undefined || params.dpop_jkt !== undefined ? params : { ...params, dpop_jkt: jkt };
}

/**
 * §10.1: a push that carries both a proof and `dpop_jkt` (in the form or its request object) is
 * refused when they name different keys. The RFC names no error code; the proof itself is valid,
 * so this is the request's `invalid_request` (as node-oidc-provider answers), not `invalid_dpop_proof`.
 */
export function checkProvenDpopJkt(params: Record<string, string>, jkt: string | undefined): void {
  if (jkt !== undefined && params.dpop_jkt !== jkt) {
    throw new InvalidRequestError('The "dpop_jkt" parameter is not the thumbprint of the key of the DPoP proof.');
  }
}

/** `DPoP-Nonce` on a successful answer to a request that carried a proof, when nonces are required (RFC 9449 §8.2). */
export function offerDpopNonce(deps: DpopDeps, reply: FastifyReply): void {
  const nonce = offeredDpopNonce(deps);
  if (nonce !== undefined) reply.header('dpop-nonce', nonce);
}

/** A session bound to `jkt` (or to no key, when undefined): what the grant's new tokens carry. */
export function boundSession(session: TokenSession, jkt: string | undefined): TokenSession {
  const { dpopJkt: _previous, ...unbound } = session;
  return jkt === undefined ? unbound : { ...unbound, dpopJkt: jkt };
}

/** `token_type` of a token response (RFC 9449 §5): `DPoP` for a bound access token, Hydra's `bearer` otherwise. */
export function tokenTypeOf(session: TokenSession): 'bearer' | 'DPoP' {
  return session.dpopJkt === undefined ? 'bearer' : 'DPoP';
}

/**
 * A code issued for `dpop_jkt` (RFC 9449 §10) is redeemed only with a proof of that key. Checked
 * before the code is spent, so a request without the key cannot burn it.
 */
export function checkCodeBinding(session: TokenSession, jkt: string | undefined): void {
  if (session.dpopJkt !== undefined && session.dpopJkt !== jkt) {
    throw new InvalidGrantError(
      'The authorization code is bound to a DPoP key (dpop_jkt): the token request must carry a proof signed with it.',
    );
  }
}

/**
 * A public client's refresh token is bound to the key it was issued with (RFC 9449 §5): every refresh
 * proves it. A confidential client's refresh tokens are not (it authenticates instead): it may refresh
 * with another key, or none, and the new access token is bound to whatever the new request proves.
 */
export function checkRefreshBinding(client: OAuth2Client, session: TokenSession, jkt: string | undefined): void {
  if (client.token_endpoint_auth_method !== 'none' || session.dpopJkt === undefined) return;
  if (session.dpopJkt !== jkt) {
    throw new InvalidGrantError('The refresh token is bound to a DPoP key: the token request must carry a proof signed with it.');
  }
}

/**
 * `dpop_jkt` of an authorization request (RFC 9449 §10): the thumbprint the code is bound to. Only
 * a code can be bound; a response type that also issues an access token at the authorization endpoint
 * (which no proof accompanies) is refused rather than answered with an unbound token.
 */
export function checkDpopJkt(params: Record<string, string>, responseTypes: ReadonlySet<string>): string | undefined {
  const jkt = params.dpop_jkt;
  if (jkt === undefined) return undefined;
  if (!THUMBPRINT.test(jkt)) throw new InvalidRequestError('The "dpop_jkt" parameter must be a base64url SHA-256 JWK thumbprint.');
  if (!responseTypes.has('code') || responseTypes.has('token')) {
    throw new InvalidRequestError(
      'The "dpop_jkt" parameter binds an authorization code: the response type must issue a code and no access token.',
    );
  }
  return jkt;
}
