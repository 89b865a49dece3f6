import { createHash, randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { OAuth2Client } from '../client/model.js';
import { ID_TOKEN_SET } from '../jwk/manager.js';
import type { SigningKeyDeps } from './deps.js';
import type { TokenSession } from './token-store.js';

/** Claims the consent app's `session.id_token` may not override. */
export const RESERVED_ID_TOKEN_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'auth_time',
  'rat',
  'nonce',
  'acr',
  'amr',
  'sid',
  'at_hash',
  'c_hash',
  'azp',
]);

export interface IdTokenInput {
  client: OAuth2Client;
  /** The subject as this client sees it (pairwise or forced when configured). */
  subject: string;
  session: TokenSession;
  lifespanMs: number;
  /** For `at_hash` (implicit/hybrid and token endpoint) and `c_hash` (hybrid). */
  accessToken?: string;
  code?: string;
  /** Whether to include `nonce` (not on refresh, per OIDC Core §12.2 it may be omitted; Hydra keeps it). */
  includeNonce?: boolean;
}

/** Signs an OpenID Connect ID token with the newest key of `hydra.openid.id-token`. */
export async function signIdToken(registry: SigningKeyDeps, input: IdTokenInput): Promise<string> {
  const signer = await registry.keys.signingKey(ID_TOKEN_SET);
  const now = Math.floor(Date.now() / 1000);
  const { session } = input;
  const claims: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(session.idTokenClaims ?? {})) if (!RESERVED_ID_TOKEN_CLAIMS.has(name)) claims[name] = value;
  if (session.authTime) claims.auth_time = session.authTime;
  if (session.requestedAt) claims.rat = session.requestedAt;
  if (session.nonce && input.includeNonce !== false) claims.nonce = session.nonce;
  if (session.acr) claims.acr = session.acr;
  if (session.amr && session.amr.length > 0) claims.amr = session.amr;
  if (session.sid) claims.sid = session.sid;
  if (input.accessToken) claims.at_hash = halfHash(input.accessToken, signer.alg);
  if (input.code) claims.c_hash = halfHash(input.code, signer.alg);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
    .setIssuer(registry.config.urls.self.issuer)
    .setSubject(input.subject)
    .setAudience([input.client.client_id])
    .setIssuedAt(now)
    .setExpirationTime(now + Math.max(1, Math.round(input.lifespanMs / 1000)))
    .setJti(randomUUID())
    .sign(signer.key);
}

/** OIDC Core §3.1.3.6: base64url of the left half of the hash matching the signing algorithm. */
export function halfHash(value: string, alg: string): string {
  const bits = /(\d{3})$/.exec(alg)?.[1] ?? '256';
  const digest = createHash(alg === 'EdDSA' ? 'sha512' : `sha${bits}`)
    .update(value, 'ascii')
    .digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** Leeway for an ID token issued "in the future" by a node whose clock runs ahead. */
const CLOCK_SKEW_S = 5;

/** The claims every ID token this server signs carries (`signIdToken`). */
export interface OwnIdTokenClaims extends JWTPayload {
  sub: string;
  aud: string[];
  iat: number;
  exp: number;
}

/**
 * The claims of `token` when it is an ID token this server issued, else undefined. The ID-token key
 * also signs logout tokens, signed userinfo answers and verifiable credentials, so a valid signature
 * is not enough: the token must have an ID token's shape (`signIdToken`): untyped or `typ: JWT`,
 * this issuer, a subject, an audience, `iat` and `exp`, and none of the claims that mark the others
 * (`vc`, `events`). Signed userinfo carries no `exp`; a credential no `aud`; a logout token is typed.
 * Expired ones pass (an `id_token_hint` is often expired), so it is verified as of its own `iat`,
 * which may not lie in the future. Used for every `id_token_hint` (authorization and logout).
 */
export async function verifyOwnIdToken(registry: SigningKeyDeps, token: string): Promise<OwnIdTokenClaims | undefined> {
  let payload: JWTPayload;
  try {
    const typ = decodeProtectedHeader(token).typ;
    if (typ !== undefined && typ.toLowerCase() !== 'jwt') return undefined;
    const issuedAt = decodeJwt(token).iat;
    if (typeof issuedAt !== 'number' || issuedAt > Date.now() / 1000 + CLOCK_SKEW_S) return undefined;
    ({ payload } = await jwtVerify(token, registry.keys.verifier(ID_TOKEN_SET), {
      issuer: registry.config.urls.self.issuer,
      currentDate: new Date(issuedAt * 1000),
      requiredClaims: ['sub', 'aud', 'iat', 'exp'],
    }));
  } catch {
    return undefined;
  }
  const aud = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? []);
  if (typeof payload.sub !== 'string' || payload.sub === '' || aud.length === 0) return undefined;
  if ('vc' in payload || 'events' in payload) return undefined;
  return { ...payload, sub: payload.sub, aud, iat: payload.iat as number, exp: payload.exp as number };
}
