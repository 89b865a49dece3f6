import { createHash, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { OAuth2Client } from '../client/model.js';
import { ID_TOKEN_SET } from '../jwk/manager.js';
import type { Registry } from '../registry.js';
import type { TokenSession } from './token-store.js';

/** Claims the consent app's `session.id_token` may not override. */
export const RESERVED_ID_TOKEN_CLAIMS = new Set([
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
export async function signIdToken(registry: Registry, input: IdTokenInput): Promise<string> {
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
