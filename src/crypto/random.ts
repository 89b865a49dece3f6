import { randomBytes, randomFillSync, randomInt } from 'node:crypto';

/** The characters Hydra draws generated client secrets from (RFC 3986 unreserved). */
export const UNRESERVED = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~';

/** A uniformly random string over `alphabet`, from the OS's CSPRNG. */
export function randomString(length: number, alphabet = UNRESERVED): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** Bytes drawn from the operating system's CSPRNG at a time. */
const POOL_BYTES = 4096;
/** Requests larger than this bypass the pool. */
const MAX_POOLED = 256;

/**
 * Cryptographically random bytes, drawn from a buffer refilled by one `randomFillSync` call at a time,
 * as Node's own `randomUUID` does: each call of `randomBytes` enters OpenSSL's generator, which costs
 * more than the rest of minting a token. Every byte is handed out once and the caller gets its own copy.
 * One pool per registry (`registry.random`), handed to whatever draws from it: no hidden module state.
 */
export class RandomPool {
  private pool = Buffer.alloc(0);
  private offset = 0;

  bytes(size: number): Buffer {
    if (size > MAX_POOLED) return randomBytes(size);
    if (this.offset + size > this.pool.length) {
      this.pool = randomFillSync(Buffer.allocUnsafeSlow(POOL_BYTES));
      this.offset = 0;
    }
    const bytes = Buffer.from(this.pool.subarray(this.offset, this.offset + size));
    // Spent bytes are wiped, so the pool never holds a value that was handed out.
    this.pool.fill(0, this.offset, this.offset + size);
    this.offset += size;
    return bytes;
  }

  /**
   * A time-ordered UUID (version 7, RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.
   * For keys that are indexed and never shown to anyone (a grant's request id): new entries land at
   * the end of the index, so an insert touches the same few pages as the last one instead of a random
   * page each, which is most of what a commit writes.
   */
  timeOrderedUuid(now = Date.now()): string {
    const bytes = this.bytes(16);
    bytes.writeUIntBE(now, 0, 6);
    bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f);
    bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}
