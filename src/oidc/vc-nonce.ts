import { type Keyring, sha256Hex } from '../crypto/keyring.js';

/** The scope that, with `openid`, lets a token request verifiable credentials. */
export const VC_SCOPE = 'userinfo_credential_draft_00';

const PURPOSE = 'vc-nonce';

/**
 * A credential nonce: its expiry and an HMAC binding it to one access token, so nothing is stored
 * and a nonce issued for one token is useless with another.
 */
export function mintVcNonce(keyring: Keyring, accessToken: string, ttlMs: number, now = Date.now()): { nonce: string; expiresIn: number } {
  const expires = Math.floor((now + ttlMs) / 1000);
  return {
    nonce: `${expires.toString(36)}.${keyring.sign(PURPOSE, `${expires}.${sha256Hex(accessToken)}`)}`,
    expiresIn: Math.round(ttlMs / 1000),
  };
}

export function verifyVcNonce(keyring: Keyring, accessToken: string, nonce: unknown, now = Date.now()): boolean {
  if (typeof nonce !== 'string') return false;
  const [encoded, mac, extra] = nonce.split('.');
  if (!encoded || !mac || extra !== undefined || !/^[0-9a-z]+$/.test(encoded)) return false;
  const expires = Number.parseInt(encoded, 36);
  if (!Number.isSafeInteger(expires) || expires * 1000 <= now) return false;
  return keyring.verify(PURPOSE, `${expires}.${sha256Hex(accessToken)}`, mac);
}

export function grantsCredentials(scope: readonly string[]): boolean {
  return scope.includes('openid') && scope.includes(VC_SCOPE);
}
