import { decodeJwt, decodeProtectedHeader, importJWK, type JWK, type JWTPayload, jwtVerify } from 'jose';
import { rfc3339 } from '../../client/validate.js';
import { publicUrl } from '../../config/urls.js';
import { HttpError, InvalidGrantError, InvalidRequestError, InvalidScopeError } from '../../http/errors.js';
import { disallowedAudiences } from '../audience.js';
import { boundSession, tokenTypeOf } from '../dpop/binding.js';
import type { GrantHandler } from '../grant.js';
import { lifespan } from '../lifespans.js';
import { resourcesOfBody, withResources } from '../resource.js';
import { disallowedScopes, parseScope } from '../scope.js';
import { applyTokenHooks } from '../token-hook.js';
import { list, single } from '../token-params.js';
import type { Grant } from '../tokens.js';
import type { JwtBearerTrust } from '../trust-store.js';

export const JWT_BEARER_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Asymmetric algorithms only: a trust holds a public key. */
const ASSERTION_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

const claimsError = (hint: string) => new InvalidGrantError(`The JWT in "assertion" request parameter ${hint}`);

/**
 * The JWT-bearer authorization grant (RFC 7523 §2.1) as Hydra (fosite's rfc7523 handler) checks it:
 * an assertion signed with the key of a trust relationship for its `iss` and `sub`, asking for scope
 * within both the client's and the trust's, addressed to the token endpoint, not expired, living at
 * most `oauth2.grant.jwt.max_ttl`, its `jti` used once. The answer is an access token for `sub`.
 */
export const jwtBearerGrant: GrantHandler = async ({ registry, client, body, dpopJkt }) => {
  const { config, persister } = registry;
  const settings = config.oauth2.grant.jwt;
  const assertion = single(body, 'assertion');
  if (!assertion) {
    throw new InvalidRequestError(`The assertion request parameter must be set when using grant_type of '${JWT_BEARER_GRANT_TYPE}'.`);
  }
  let unverified: JWTPayload;
  let kid: string | undefined;
  let alg: string | undefined;
  try {
    unverified = decodeJwt(assertion);
    ({ kid, alg } = decodeProtectedHeader(assertion));
  } catch {
    throw new InvalidGrantError('Unable to parse JSON Web Token passed in "assertion" request parameter.');
  }
  if (typeof unverified.iss !== 'string' || unverified.iss === '') throw claimsError('MUST contain an "iss" (issuer) claim.');
  if (typeof unverified.sub !== 'string' || unverified.sub === '') throw claimsError('MUST contain a "sub" (subject) claim.');
  const { iss: issuer, sub: subject } = unverified;

  const now = registry.clock.now();
  const candidates = (await persister.trusts.findFor(issuer, subject, now)).filter((trust) => kid === undefined || trust.keyId === kid);
  const { payload, trust } = await verifiedBy(assertion, alg, candidates, issuer, subject);

  const requestedScope = parseScope(single(body, 'scope'));
  const [notForClient] = disallowedScopes(config.strategies.scope, parseScope(client.scope), requestedScope);
  if (notForClient !== undefined) throw new InvalidScopeError(`The OAuth 2.0 Client is not allowed to request scope "${notForClient}".`);
  const [notForTrust] = disallowedScopes(config.strategies.scope, trust.scope, requestedScope);
  if (notForTrust !== undefined) {
    throw new InvalidScopeError(
      `The public key registered for issuer "${issuer}" and subject "${subject}" is not allowed to request scope "${notForTrust}".`,
    );
  }
  const requestedAudience = [...new Set(list(body, 'audience'))];
  const [badAudience] = disallowedAudiences(client.audience, requestedAudience);
  if (badAudience !== undefined) {
    throw new InvalidRequestError(`Requested audience "${badAudience}" has not been whitelisted by the OAuth 2.0 Client.`);
  }
  const audience = withResources(config, client, requestedAudience, resourcesOfBody(body));

  checkClaims(payload, config.oauth2.grant.jwt, publicUrl(config, '/oauth2/token'), now);
  if (typeof payload.jti === 'string' && payload.jti !== '') {
    // Remembered until the assertion expires: a replay within its lifetime is refused.
    if (!(await persister.jtis.use('jwt_bearer_grant', payload.jti, (payload.exp as number) * 1000))) {
      throw new HttpError('jti_known', 400, 'The jti was already used.');
    }
  }
  if (!settings.omit_assertion_audience) {
    const asserted = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
    for (const aud of asserted) if (!audience.includes(aud)) audience.push(aud);
  }

  const grant: Grant = {
    requestId: registry.random.timeOrderedUuid(),
    client,
    subject,
    scope: requestedScope,
    audience,
    session: boundSession({ grantType: JWT_BEARER_GRANT_TYPE, ext: {} }, dpopJkt),
    consentId: null,
    requestedAt: now,
  };
  // As Hydra: the hook sees the request after its checks (the jti is spent), before anything is issued.
  grant.session = await applyTokenHooks(registry, { grant, grantType: JWT_BEARER_GRANT_TYPE, requestedScope, body });
  const minted = await registry.tokens.mintAccessToken(grant, lifespan(config, client, 'jwt_bearer', 'access_token'), now);
  await registry.tokenStore.insert([minted.row]);
  return {
    access_token: minted.token,
    token_type: tokenTypeOf(grant.session),
    expires_in: minted.expiresIn,
    scope: requestedScope.join(' '),
  };
};

/** The assertion's claims and the trust whose key verified it; without one, fosite's `invalid_grant`. */
async function verifiedBy(
  assertion: string,
  alg: string | undefined,
  trusts: JwtBearerTrust[],
  issuer: string,
  subject: string,
): Promise<{ payload: JWTPayload; trust: JwtBearerTrust }> {
  if (trusts.length === 0) {
    throw new InvalidGrantError(
      `No public JWK was registered for issuer "${issuer}" and subject "${subject}", and public key is required to check signature of JWT in "assertion" request parameter.`,
    );
  }
  if (alg === undefined || !ASSERTION_ALGS.includes(alg))
    throw new InvalidGrantError("Unable to verify the integrity of the 'assertion' value.");
  for (const trust of trusts) {
    try {
      const jwk = trust.publicJwk as JWK;
      const key = await importJWK(jwk, typeof jwk.alg === 'string' ? jwk.alg : alg);
      // Time claims are checked below with fosite's own answers, not jose's.
      const { payload } = await jwtVerify(assertion, key, { algorithms: ASSERTION_ALGS, clockTolerance: Number.MAX_SAFE_INTEGER });
      return { payload, trust };
    } catch {
      // Try the next key of the issuer and subject.
    }
  }
  throw new InvalidGrantError("Unable to verify the integrity of the 'assertion' value.");
}

/** fosite's claim checks, in its order (rfc7523 `validateTokenClaims`). */
function checkClaims(
  payload: JWTPayload,
  settings: { iat_optional: boolean; jti_optional: boolean; max_ttl: number },
  tokenUrl: string,
  nowMs: number,
): void {
  const audiences = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
  if (audiences.length === 0) throw claimsError('MUST contain an "aud" (audience) claim.');
  if (!audiences.includes(tokenUrl)) {
    throw claimsError(
      `MUST contain an "aud" (audience) claim containing a value "${tokenUrl}" that identifies the authorization server as an intended audience.`,
    );
  }
  if (typeof payload.exp !== 'number') throw claimsError('MUST contain an "exp" (expiration time) claim.');
  const now = nowMs / 1000;
  if (payload.exp < now) throw claimsError('expired.');
  if (typeof payload.nbf === 'number' && payload.nbf >= now) {
    throw claimsError(
      `contains an "nbf" (not before) claim, that identifies the time '${secondsRfc3339(payload.nbf)}' before which the token MUST NOT be accepted.`,
    );
  }
  if (!settings.iat_optional && typeof payload.iat !== 'number') throw claimsError('MUST contain an "iat" (issued at) claim.');
  const issued = typeof payload.iat === 'number' ? payload.iat : now;
  if (payload.exp - issued > settings.max_ttl / 1000) {
    throw claimsError(
      `contains an "exp" (expiration time) claim with value "${secondsRfc3339(payload.exp)}" that is unreasonably far in the future, considering token issued at "${secondsRfc3339(issued)}".`,
    );
  }
  if (!settings.jti_optional && (typeof payload.jti !== 'string' || payload.jti === '')) {
    throw claimsError('MUST contain an "jti" (JWT ID) claim.');
  }
}

/** Epoch seconds in RFC 3339, whole seconds, as fosite prints them. */
function secondsRfc3339(seconds: number): string {
  return rfc3339(new Date(seconds * 1000));
}
