import type { FastifyReply, FastifyRequest } from 'fastify';
import { publicUrl } from '../config/urls.js';
import { HttpError, InvalidTokenError } from '../http/errors.js';
import { offerDpopNonce } from '../oauth2/dpop/binding.js';
import { DpopProofError, dpopHeader, dpopSigningAlgs, verifyDpopProof } from '../oauth2/dpop/proof.js';
import type { StoredToken } from '../oauth2/token-store.js';
import type { BearerDeps } from './deps.js';

/** RFC 6750 §3: a 401 carrying the reason in `WWW-Authenticate` as well as in the body. */
export function bearerError(error: HttpError): HttpError {
  const { error: code, error_description } = error.body();
  return error.withHeader('www-authenticate', `Bearer error="${code}", error_description="${quoted(error_description)}"`);
}

function quoted(text: string): string {
  return text.replace(/["\\]/g, "'");
}

/**
 * RFC 9449 §7.1: the `DPoP` challenge of a refused DPoP request, naming the algorithms accepted. A
 * refused proof keeps its code (`invalid_dpop_proof`, `use_dpop_nonce` with its `DPoP-Nonce`) as a 401.
 */
function dpopError(registry: BearerDeps, error: HttpError): HttpError {
  const { error: code, error_description } = error.body();
  const answer = new HttpError(code, 401, error.description, error.hint);
  if (error instanceof DpopProofError && error.nonce !== undefined) answer.withHeader('dpop-nonce', error.nonce);
  const algs = dpopSigningAlgs(registry).join(' ');
  return answer.withHeader('www-authenticate', `DPoP error="${code}", error_description="${quoted(error_description)}", algs="${algs}"`);
}

type Scheme = 'bearer' | 'dpop';

/**
 * The active access token a resource request presents: `Authorization: Bearer …`, or (RFC 6750
 * §2.2) `access_token` in a form-encoded POST body. Never both, never a query parameter. A
 * DPoP-bound token (RFC 9449 §7) comes only as `Authorization: DPoP …` with a proof of its key for
 * this request (`htm`, `htu`, `ath`); such a request also gets a fresh `DPoP-Nonce` on `reply` when
 * nonces are required.
 */
export async function activeAccessToken(
  registry: BearerDeps,
  request: FastifyRequest,
  reply?: FastifyReply,
): Promise<{ token: string; row: StoredToken }> {
  const header = request.headers.authorization;
  const body = request.body as Record<string, unknown> | undefined;
  const fromBody = request.method === 'POST' && typeof body?.access_token === 'string' ? body.access_token : undefined;
  let token: string | undefined;
  let scheme: Scheme = 'bearer';
  if (header !== undefined) {
    const match = /^(Bearer|DPoP)\s+(\S+)$/i.exec(header);
    if (match?.[1]?.toLowerCase() === 'dpop') scheme = 'dpop';
    const refuse = scheme === 'dpop' ? (error: HttpError) => dpopError(registry, error) : bearerError;
    if (!match || fromBody !== undefined)
      throw refuse(new InvalidTokenError('Use one Bearer token, in the Authorization header or the form body.'));
    token = match[2] as string;
  } else {
    token = fromBody;
  }
  const refuse = scheme === 'dpop' ? (error: HttpError) => dpopError(registry, error) : bearerError;
  if (!token) throw refuse(new InvalidTokenError('The request carries no access token.'));
  const row = await registry.tokens.resolve(token, 'access_token');
  if (!row) throw refuse(new InvalidTokenError('The access token is malformed, unknown, or was not issued by this server.'));
  if (!registry.tokens.isActive(row)) throw refuse(new InvalidTokenError('The access token has expired or has been revoked.'));
  const bound = row.session.dpopJkt;
  if (bound === undefined && scheme === 'bearer') return { token, row };

  // RFC 9449 §7.1, §7.2: a bound token is no bearer token; an unbound one proves no key.
  if (bound === undefined)
    throw dpopError(registry, new InvalidTokenError('The access token is not DPoP-bound: present it as a Bearer token.'));
  if (scheme === 'bearer') {
    throw dpopError(registry, new InvalidTokenError('The access token is DPoP-bound: present it with the DPoP scheme and a DPoP proof.'));
  }
  await proveKey(registry, request, token, row);
  if (reply) offerDpopNonce(registry, reply);
  return { token, row };
}

/**
 * The request's proof must be signed with the token's key, for this request and this token, with an
 * algorithm the token's client may use (the FAPI 2.0 profile narrows them, §5.4.1).
 */
async function proveKey(registry: BearerDeps, request: FastifyRequest, token: string, row: StoredToken): Promise<void> {
  const { config } = registry;
  const bound = row.session.dpopJkt;
  const path = request.url.split('?')[0] as string;
  const override = path === '/userinfo' ? config.webfinger.oidc_discovery.userinfo_url : '';
  try {
    const proof = dpopHeader(request);
    if (proof === undefined) throw new DpopProofError('invalid_dpop_proof', 'A DPoP-bound access token must come with a DPoP proof.');
    const urls = [publicUrl(config, path), ...(override ? [override] : [])];
    const client = (await registry.clients.find(row.clientId))?.client;
    const algorithms = dpopSigningAlgs(registry, client);
    const jkt = await verifyDpopProof(registry, proof, { algorithms, method: request.method, urls, accessToken: token });
    if (jkt !== bound)
      throw new DpopProofError(
        'invalid_dpop_proof',
        'The DPoP proof is signed with another key than the one the access token is bound to.',
      );
  } catch (error) {
    if (error instanceof HttpError) throw dpopError(registry, error);
    throw error;
  }
}
