import { randomBytes } from 'node:crypto';
import { type Keyring, sha256Hex } from '../crypto/keyring.js';

/**
 * Verifiable-credential nonces (`c_nonce`), part of token issuing: a token response that grants
 * credentials carries one (`issue.ts`), and the credential endpoint (oidc/) checks the proof against it.
 */

/** The scope that, with `openid`, lets a token request verifiable credentials. */
export const VC_SCOPE = 'userinfo_credential_draft_00';

const PURPOSE = 'vc-nonce';

/**
 * A credential nonce: its expiry, a random part, and an HMAC binding both to one access token, so a
 * nonce issued for one token is useless with another. Nothing is stored when it is minted; a proof
 * that uses it records it in `used_jtis` until it expires, so each nonce serves one credential (the
 * random part keeps two nonces minted in the same second for the same token apart).
 */
export function mintVcNonce(keyring: Keyring, accessToken: string, ttlMs: number, now = Date.now()): { nonce: string; expiresIn: number } {
  const expires = Math.floor((now + ttlMs) / 1000);
  // base64url: no '.', which separates the parts.
  const salt = randomBytes(12).toString('base64url');
  return {
    nonce: `${expires.toString(36)}.${salt}.${keyring.sign(PURPOSE, `${expires}.${salt}.${sha256Hex(accessToken)}`)}`,
    expiresIn: Math.round(ttlMs / 1000),
  };
}

/** When (ms) a nonce minted for this access token expires; undefined when it is not one, or has expired. */
export function verifyVcNonce(keyring: Keyring, accessToken: string, nonce: unknown, now = Date.now()): number | undefined {
  if (typeof nonce !== 'string') return undefined;
  const [encoded, salt, mac, extra] = nonce.split('.');
  if (!encoded || !salt || !mac || extra !== undefined || !/^[0-9a-z]+$/.test(encoded)) return undefined;
  const expires = Number.parseInt(encoded, 36);
  if (!Number.isSafeInteger(expires) || expires * 1000 <= now) return undefined;
  return keyring.verify(PURPOSE, `${expires}.${salt}.${sha256Hex(accessToken)}`, mac) ? expires * 1000 : undefined;
}

export function grantsCredentials(scope: readonly string[]): boolean {
  return scope.includes('openid') && scope.includes(VC_SCOPE);
}
