import type { Keyring } from '../../crypto/keyring.js';

/**
 * DPoP server nonces (RFC 9449 §8, §9), stateless so that any node accepts any node's: a nonce is
 * its time window's number and an HMAC of it with the keyring. One is accepted in its own window and
 * the next, so a nonce lives between one and two `oauth2.dpop.nonce_lifetime`s. A nonce says nothing
 * about a client or a key (the RFC asks for none); it only limits how long a proof may be prepared
 * in advance, the proof's `jti` still makes each proof single use.
 */

const PURPOSE = 'dpop-nonce';

function windowOf(now: number, lifetimeMs: number): number {
  return Math.floor(now / lifetimeMs);
}

function nonceFor(keyring: Keyring, window: number): string {
  return `${window.toString(36)}.${keyring.sign(PURPOSE, String(window))}`;
}

/** The nonce of the current window, for `DPoP-Nonce`. */
export function currentDpopNonce(keyring: Keyring, lifetimeMs: number, now: number): string {
  return nonceFor(keyring, windowOf(now, lifetimeMs));
}

/** Whether a proof's `nonce` claim is one this server issued for the current or the previous window. */
export function acceptsDpopNonce(keyring: Keyring, lifetimeMs: number, nonce: unknown, now: number): boolean {
  if (typeof nonce !== 'string' || nonce.length > 128) return false;
  const [encoded, mac, extra] = nonce.split('.');
  if (!encoded || !mac || extra !== undefined || !/^[0-9a-z]{1,12}$/.test(encoded)) return false;
  const window = Number.parseInt(encoded, 36);
  const current = windowOf(now, lifetimeMs);
  if (window !== current && window !== current - 1) return false;
  return keyring.verify(PURPOSE, String(window), mac);
}
