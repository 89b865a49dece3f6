import type { Keyring } from './keyring.js';

/** Token kinds and their prefixes, as Hydra writes them. */
export const TOKEN_PREFIX = {
  accessToken: 'ory_at_',
  refreshToken: 'ory_rt_',
  authorizeCode: 'ory_ac_',
  deviceCode: 'ory_dc_',
} as const;

export type TokenKind = keyof typeof TOKEN_PREFIX;

const PURPOSE = 'opaque-token';

export interface OpaqueToken {
  /** What the holder gets: prefix + random key + "." + HMAC signature. */
  token: string;
  /** The signature alone; stores keep only a hash of it. */
  signature: string;
}

/**
 * A fresh token in Hydra's shape: `ory_at_<base64url(32 random bytes)>.<base64url(HMAC)>`; the bytes
 * come from the keyring's random pool.
 */
export function mintOpaqueToken(keyring: Keyring, kind: TokenKind): OpaqueToken {
  const key = keyring.random.bytes(32).toString('base64url');
  const signature = keyring.sign(PURPOSE, key);
  return { token: `${TOKEN_PREFIX[kind]}${key}.${signature}`, signature };
}

/** The signature of a well-formed token whose HMAC verifies under any system secret; else undefined. */
export function verifyOpaqueToken(keyring: Keyring, kind: TokenKind, token: string): string | undefined {
  const prefix = TOKEN_PREFIX[kind];
  if (!token.startsWith(prefix)) return undefined;
  const [key, signature, extra] = token.slice(prefix.length).split('.');
  if (!key || !signature || extra !== undefined) return undefined;
  return keyring.verify(PURPOSE, key, signature) ? signature : undefined;
}
