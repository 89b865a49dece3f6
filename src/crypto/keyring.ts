import { createCipheriv, createDecipheriv, createHmac, hash, hkdfSync, timingSafeEqual } from 'node:crypto';
import { RandomPool } from './random.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Key material derived from `secrets.system`. The first secret seals and signs; every secret opens
 * and verifies, so secrets rotate by prepending a new one. Each purpose gets its own derived key,
 * so a ciphertext or MAC made for one purpose is useless for another.
 */
export class Keyring {
  private readonly derived = new Map<string, Buffer[]>();

  /**
   * @param random where IVs and opaque-token keys are drawn from: the registry's pool, or one of the
   *   keyring's own (a keyring made outside the registry, e.g. the identity UI's).
   */
  constructor(
    private readonly secrets: readonly string[],
    readonly random: RandomPool = new RandomPool(),
  ) {
    if (secrets.length === 0) throw new Error('secrets.system: at least one secret is required');
  }

  private keys(purpose: string): Buffer[] {
    let keys = this.derived.get(purpose);
    if (!keys) {
      keys = this.secrets.map((secret) => Buffer.from(hkdfSync('sha256', secret, 'portcullis', purpose, 32)));
      this.derived.set(purpose, keys);
    }
    return keys;
  }

  /** AES-256-GCM; output `v1.<iv>.<ciphertext>.<tag>` in base64url. */
  seal(purpose: string, plaintext: string | Buffer, associatedData = ''): string {
    const { iv, ciphertext, tag } = this.encrypt(purpose, plaintext, associatedData);
    return ['v1', iv, ciphertext, tag].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  /**
   * Opens what `seal` made with any of the secrets; undefined when no secret opens it. Only the full
   * 16-byte tag authenticates: GCM would otherwise accept a tag cut to as little as 4 bytes.
   */
  open(purpose: string, sealed: string, associatedData = ''): Buffer | undefined {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1') return undefined;
    const [iv, ciphertext, tag] = parts.slice(1).map(canonicalBase64url);
    if (!iv || !ciphertext || !tag) return undefined;
    return this.decrypt(purpose, iv, ciphertext, tag, associatedData);
  }

  /** Like `seal`, as short as it can be: one base64url string of iv, ciphertext and tag (for URLs). */
  sealCompact(purpose: string, plaintext: Buffer): string {
    const { iv, ciphertext, tag } = this.encrypt(purpose, plaintext, '');
    return Buffer.concat([iv, ciphertext, tag]).toString('base64url');
  }

  openCompact(purpose: string, sealed: string): Buffer | undefined {
    const bytes = canonicalBase64url(sealed);
    if (!bytes || bytes.length < IV_BYTES + TAG_BYTES) return undefined;
    const iv = bytes.subarray(0, IV_BYTES);
    const tag = bytes.subarray(bytes.length - TAG_BYTES);
    return this.decrypt(purpose, iv, bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES), tag, '');
  }

  private encrypt(purpose: string, plaintext: string | Buffer, associatedData: string) {
    const key = this.keys(purpose)[0] as Buffer;
    const iv = this.random.bytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(associatedData));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { iv, ciphertext, tag: cipher.getAuthTag() };
  }

  private decrypt(purpose: string, iv: Buffer, ciphertext: Buffer, tag: Buffer, associatedData: string): Buffer | undefined {
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return undefined;
    for (const key of this.keys(purpose)) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(associatedData));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
      } catch {
        // wrong key: try the next secret
      }
    }
    return undefined;
  }

  /** HMAC-SHA512/256 with the first secret's key for this purpose, as Hydra signs opaque tokens. */
  sign(purpose: string, data: string): string {
    return createHmac('sha512-256', this.keys(purpose)[0] as Buffer)
      .update(data)
      .digest('base64url');
  }

  /**
   * What `sign` gives under each secret, the first secret's first: for lookups by a keyed hash (a
   * user code's), which must still find what was signed before the secrets rotated.
   */
  signatures(purpose: string, data: string): string[] {
    return this.keys(purpose).map((key) => createHmac('sha512-256', key).update(data).digest('base64url'));
  }

  /**
   * True when any secret's key produced `signature` over `data`; compares in constant time. The
   * encoded strings are compared, so only the one spelling `sign` gives verifies (no decoding, which
   * would accept variants in the spare bits of the last character).
   */
  verify(purpose: string, data: string, signature: string): boolean {
    return this.keys(purpose).some((key) => safeEqual(createHmac('sha512-256', key).update(data).digest('base64url'), signature));
  }
}

/**
 * Decodes unpadded base64url only in the one spelling `toString('base64url')` gives: Node ignores
 * the spare bits of a last character, so `...A` and `...B` could otherwise open the same sealed
 * value, and a challenge, verifier or token would have several spellings.
 */
function canonicalBase64url(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

export function sha256Hex(value: string): string {
  // One-shot: half the cost of createHash().update().digest() for short inputs.
  return hash('sha256', value, 'hex');
}

export function sha256Base64(value: string): string {
  return hash('sha256', value, 'base64');
}

/** Constant-time string equality (lengths may leak, contents do not). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
