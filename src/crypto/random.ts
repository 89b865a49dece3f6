import { randomInt } from 'node:crypto';

/** The characters Hydra draws generated client secrets from (RFC 3986 unreserved). */
export const UNRESERVED = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~';

/** A uniformly random string over `alphabet`, from the OS's CSPRNG. */
export function randomString(length: number, alphabet = UNRESERVED): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}
