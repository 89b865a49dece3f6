import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Password hashing with scrypt (memory-hard, built into Node). Hashes describe themselves:
 *
 *     $scrypt$N=32768,r=8,p=1$<salt>$<hash>        (salt and hash in unpadded base64)
 *
 * so the cost can be raised later without breaking stored passwords: each hash verifies with the
 * parameters it was made with.
 */
export interface ScryptParams {
  /** CPU/memory cost, a power of two; memory used is about 128 × N × r bytes. */
  N: number;
  r: number;
  p: number;
}

/**
 * One of OWASP's equivalent minimums for scrypt (N=2^17/r=8/p=1, or N=2^15/r=8/p=3): this one needs
 * 32 MiB rather than 128 MiB per hash, so a small server can check several sign-ins at once.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 32_768, r: 8, p: 3 };

const SALT_BYTES = 16;
/** The most memory one verification may take (256 MiB), whatever a stored hash asks for. */
const MAX_MEMORY = 256 * 1024 * 1024;
const KEY_BYTES = 32;
/** Passwords longer than this are refused before hashing (hashing huge inputs is a cheap denial of service). */
export const MAX_PASSWORD_LENGTH = 1024;

function derive(password: string, salt: Buffer, keyLength: number, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 128 * params.r * (2 * params.N + params.p) };
  return new Promise((resolve, reject) => {
    // NFC: the same password typed on two systems that compose accents differently is the same password.
    scrypt(password.normalize('NFC'), salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

const b64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  if (password.length > MAX_PASSWORD_LENGTH) throw new Error(`passwords are at most ${MAX_PASSWORD_LENGTH} characters`);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, params);
  return `$scrypt$N=${params.N},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

const FORMAT = /^\$scrypt\$N=(\d{1,8}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]{11,88})\$([A-Za-z0-9+/]{43})$/;

/** The parts of a stored hash, or undefined when it is not one this code made (or its cost is out of bounds). */
function parse(stored: string): ParsedHash | undefined {
  const match = FORMAT.exec(stored);
  if (!match) return undefined;
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // Bounds keep a tampered row from making verification allocate gigabytes or spin for minutes.
  const powerOfTwo = N >= 2 && N <= 1_048_576 && (N & (N - 1)) === 0;
  if (!powerOfTwo || r < 1 || r > 32 || p < 1 || p > 16 || 128 * N * r > MAX_MEMORY) return undefined;
  const key = Buffer.from(match[5] as string, 'base64');
  // Exactly the length this code writes: scrypt's shorter outputs are prefixes of its longer ones, so a
  // truncated hash would otherwise still verify (with fewer bits to guess).
  if (key.length !== KEY_BYTES) return undefined;
  return { params: { N, r, p }, salt: Buffer.from(match[4] as string, 'base64'), key };
}

/** True when `password` is the one `stored` was made from; compares in constant time. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed || password.length > MAX_PASSWORD_LENGTH) return false;
  const key = await derive(password, parsed.salt, KEY_BYTES, parsed.params);
  return timingSafeEqual(key, parsed.key);
}

/**
 * Spends the time a real verification takes, for a username that does not exist: answering faster
 * would tell an attacker which usernames are real. The hash it checks against is made on first use
 * and kept by its owner (each user store has one), not by this module.
 */
export class DummyPassword {
  private hash: Promise<string> | undefined;

  /** Always false. */
  async verify(password: string): Promise<false> {
    this.hash ??= hashPassword(randomBytes(16).toString('hex'));
    await verifyPassword(password, await this.hash);
    return false;
  }
}
