import type { Config } from '../config/schema.js';
import type { Keyring } from '../crypto/keyring.js';
import { randomString } from '../crypto/random.js';

/**
 * User codes of the device authorization grant (RFC 8628 §6.1), as Hydra's presets make them:
 * `high` 8 characters of letters and digits without look-alikes (no 0/O/o, 1/l/I, …), `medium`
 * 8 upper-case letters, `low` 9 digits; `length` and `character_set` override the preset's.
 */
const PRESETS: Readonly<Record<string, { length: number; characters: string }>> = {
  high: { length: 8, characters: '23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ' },
  medium: { length: 8, characters: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' },
  low: { length: 9, characters: '0123456789' },
};

const SIGN_PURPOSE = 'device-user-code';

export function userCodeShape(config: Config): { length: number; characters: string } {
  const { entropy_preset, length, character_set } = config.oauth2.device_authorization.user_code;
  const preset = PRESETS[entropy_preset] ?? (PRESETS.high as { length: number; characters: string });
  const characters = [...new Set(character_set || preset.characters)].join('');
  return { length: length > 0 ? length : preset.length, characters };
}

/** A fresh user code, each character drawn uniformly from the configured set (the OS's CSPRNG). */
export function newUserCode(config: Config): string {
  const { length, characters } = userCodeShape(config);
  return randomString(length, characters);
}

/**
 * What a person typed, as the code was issued: surrounding spaces dropped, and dashes and inner
 * spaces too when the character set has none (RFC 8628 §6.1: "XXXX-XXXX" reads better); the
 * `medium` preset's letters are upper-case whatever was typed.
 */
export function normalizeUserCode(config: Config, typed: string): string {
  const { characters } = userCodeShape(config);
  let code = typed.trim();
  if (!characters.includes('-')) code = code.replaceAll('-', '');
  if (!characters.includes(' ')) code = code.replaceAll(' ', '');
  if (characters === characters.toUpperCase() && characters !== characters.toLowerCase()) code = code.toUpperCase();
  return code;
}

/**
 * The user code's storage key: an HMAC under the first system secret, so the store is only ever asked
 * about keyed hashes (a lookup's timing says nothing about how close a guess came, and a database
 * dump yields no codes).
 */
export function userCodeSignature(keyring: Keyring, code: string): string {
  return keyring.sign(SIGN_PURPOSE, code);
}

/**
 * The keys a user code may be stored under: its HMAC under every system secret, the first secret's
 * first. A code issued before `secrets.system` rotated (a new secret prepended) is stored under an
 * older secret's HMAC and must still be found while it is pending, as opaque tokens verify with
 * every secret; a new code must not collide with a pending one under any of them.
 */
export function userCodeSignatures(keyring: Keyring, code: string): string[] {
  return keyring.signatures(SIGN_PURPOSE, code);
}
