import { decodeJwt, decodeProtectedHeader, importJWK, type JWK, type JWTPayload, jwtVerify } from 'jose';
import { rfc3339 } from '../client/validate.js';
import { InvalidGrantError } from '../http/errors.js';
import type { GrantDeps } from './deps.js';
import type { JwtBearerTrust } from './trust-store.js';

// JWTs signed by an issuer trusted through the trust API (`/admin/trust/grants/jwt-bearer/issuers`):
// the JWT-bearer grant's assertions (RFC 7523) and token exchange's `…:jwt` tokens (RFC 8693) are
// checked by the same code, with fosite's rfc7523 answers.

/** Asymmetric algorithms only: a trust holds a public key. */
const TRUSTED_JWT_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** What the checks need: the trusts and the clock. */
export type TrustedJwtDeps = Pick<GrantDeps, 'persister' | 'clock'>;

/** A trusted JWT: its verified claims, the trust whose key verified it, and its issuer and subject. */
export interface TrustedJwt {
  payload: JWTPayload;
  trust: JwtBearerTrust;
  issuer: string;
  subject: string;
}

/** The claim settings of `oauth2.grant.jwt` the checks read. */
export interface TrustedJwtSettings {
  iat_optional: boolean;
  jti_optional: boolean;
  max_ttl: number;
}

/**
 * Verifies `jwt` (the value of the form field `parameter`) with the key of an unexpired trust for its
 * `iss` and `sub` (by `kid` when the header has one, else each of them); `invalid_grant` with fosite's
 * hints otherwise. Its time claims and audience are checked separately (`checkTrustedJwtClaims`), as
 * fosite checks the scope in between.
 */
export async function verifyTrustedJwt(registry: TrustedJwtDeps, jwt: string, parameter: string): Promise<TrustedJwt> {
  let unverified: JWTPayload;
  let kid: string | undefined;
  let alg: string | undefined;
  try {
    unverified = decodeJwt(jwt);
    ({ kid, alg } = decodeProtectedHeader(jwt));
  } catch {
    throw new InvalidGrantError(`Unable to parse JSON Web Token passed in "${parameter}" request parameter.`);
  }
  const claimsError = (hint: string) => new InvalidGrantError(`The JWT in "${parameter}" request parameter ${hint}`);
  if (typeof unverified.iss !== 'string' || unverified.iss === '') throw claimsError('MUST contain an "iss" (issuer) claim.');
  if (typeof unverified.sub !== 'string' || unverified.sub === '') throw claimsError('MUST contain a "sub" (subject) claim.');
  const { iss: issuer, sub: subject } = unverified;

  const trusts = (await registry.persister.trusts.findFor(issuer, subject, registry.clock.now())).filter(
    (trust) => kid === undefined || trust.keyId === kid,
  );
  if (trusts.length === 0) {
    throw new InvalidGrantError(
      `No public JWK was registered for issuer "${issuer}" and subject "${subject}", and public key is required to check signature of JWT in "${parameter}" request parameter.`,
    );
  }
  const unverifiable = new InvalidGrantError(`Unable to verify the integrity of the '${parameter}' value.`);
  if (alg === undefined || !TRUSTED_JWT_ALGS.includes(alg)) throw unverifiable;
  for (const trust of trusts) {
    try {
      const jwk = trust.publicJwk as JWK;
      const key = await importJWK(jwk, typeof jwk.alg === 'string' ? jwk.alg : alg);
      // Time claims are checked by checkTrustedJwtClaims with fosite's own answers, not jose's.
      const { payload } = await jwtVerify(jwt, key, { algorithms: TRUSTED_JWT_ALGS, clockTolerance: Number.MAX_SAFE_INTEGER });
      return { payload, trust, issuer, subject };
    } catch {
      // Try the next key of the issuer and subject.
    }
  }
  throw unverifiable;
}

/**
 * fosite's claim checks, in its order (rfc7523 `validateTokenClaims`): `aud` names one of `audiences`
 * (the hint names the first), `exp` present and not passed, `nbf` passed, `iat` present unless
 * optional, `exp` at most `max_ttl` after `iat` (or now), `jti` present unless optional.
 */
export function checkTrustedJwtClaims(
  payload: JWTPayload,
  settings: TrustedJwtSettings,
  audiences: readonly [string, ...string[]],
  nowMs: number,
  parameter: string,
): void {
  const claimsError = (hint: string) => new InvalidGrantError(`The JWT in "${parameter}" request parameter ${hint}`);
  const asserted = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
  if (asserted.length === 0) throw claimsError('MUST contain an "aud" (audience) claim.');
  if (!asserted.some((aud) => audiences.includes(aud))) {
    throw claimsError(
      `MUST contain an "aud" (audience) claim containing a value "${audiences[0]}" that identifies the authorization server as an intended audience.`,
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
