import { describe, expect, it } from 'vitest';
import { createHasher } from '../src/crypto/hasher.js';
import { Keyring } from '../src/crypto/keyring.js';
import { mintOpaqueToken, verifyOpaqueToken } from '../src/crypto/opaque-token.js';
import { RandomPool } from '../src/crypto/random.js';

// Made outside this code base: PBKDF2-SHA256 (Python's hashlib) and bcrypt, as Hydra stores them.
const PBKDF2_HASH = '$pbkdf2-sha256$i=25000,l=32$MDEyMzQ1Njc4OWFiY2RlZg$/+vqtEyURpgdhn+Zf9sf2DvEmXhpFHLa1HH0pCFbLns';
const BCRYPT_2B = '$2b$04$Cylnzx9J4/gh/DMm9rWlnuFZ29He6.DZfXCwhYWLhu/1ZJP3XkUUi';
const BCRYPT_2A = BCRYPT_2B.replace('$2b$', '$2a$');

describe('secret hashing', () => {
  const pbkdf2 = createHasher({ algorithm: 'pbkdf2', pbkdf2Iterations: 1000, bcryptCost: 4 });
  const bcrypt = createHasher({ algorithm: 'bcrypt', pbkdf2Iterations: 1000, bcryptCost: 4 });

  it('verifies hashes in Hydra’s formats whatever the configured algorithm', async () => {
    for (const hasher of [pbkdf2, bcrypt]) {
      for (const hash of [PBKDF2_HASH, BCRYPT_2A, BCRYPT_2B]) {
        expect(await hasher.verify('hydra-secret', hash)).toBe(true);
        expect(await hasher.verify('hydra-secreT', hash)).toBe(false);
      }
      expect(await hasher.verify('hydra-secret', 'plain-text-is-never-a-hash')).toBe(false);
      expect(await hasher.verify('hydra-secret', '')).toBe(false);
    }
  });

  it('hashes with the configured algorithm and a fresh salt', async () => {
    const a = await pbkdf2.hash('s3cret-value');
    const b = await pbkdf2.hash('s3cret-value');
    expect(a).toMatch(/^\$pbkdf2-sha256\$i=1000,l=32\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    expect(a).not.toBe(b);
    expect(await bcrypt.verify('s3cret-value', a)).toBe(true);
    const c = await bcrypt.hash('s3cret-value');
    expect(c).toMatch(/^\$2[aby]\$04\$/);
    expect(await pbkdf2.verify('s3cret-value', c)).toBe(true);
  });
});

describe('keyring and opaque tokens', () => {
  const old = new Keyring(['old-secret-0123456789']);
  const rotated = new Keyring(['new-secret-0123456789', 'old-secret-0123456789']);
  const replaced = new Keyring(['new-secret-0123456789']);

  it('opens what an older secret sealed after rotation by prepending, and nothing else', () => {
    const sealed = old.seal('purpose-a', 'payload', 'bound-to');
    expect(sealed).not.toContain('payload');
    expect(rotated.open('purpose-a', sealed, 'bound-to')?.toString()).toBe('payload');
    expect(replaced.open('purpose-a', sealed, 'bound-to')).toBeUndefined();
    expect(rotated.open('purpose-b', sealed, 'bound-to')).toBeUndefined(); // another purpose
    expect(rotated.open('purpose-a', sealed, 'other')).toBeUndefined(); // another binding
    const tampered = sealed.slice(0, -3) + (sealed.endsWith('A') ? 'BBB' : 'AAA');
    expect(rotated.open('purpose-a', tampered, 'bound-to')).toBeUndefined();
    expect(rotated.open('purpose-a', 'garbage', 'bound-to')).toBeUndefined();
  });

  it('mints Hydra-shaped opaque tokens that verify under any listed secret', () => {
    const { token, signature } = mintOpaqueToken(old, 'accessToken');
    expect(token).toMatch(/^ory_at_[\w-]{43}\.[\w-]{43}$/);
    expect(verifyOpaqueToken(old, 'accessToken', token)).toBe(signature);
    expect(verifyOpaqueToken(rotated, 'accessToken', token)).toBe(signature);
    expect(verifyOpaqueToken(replaced, 'accessToken', token)).toBeUndefined();
    expect(verifyOpaqueToken(old, 'refreshToken', token)).toBeUndefined();
    expect(verifyOpaqueToken(old, 'accessToken', `${token}x`)).toBeUndefined();
    expect(verifyOpaqueToken(old, 'accessToken', token.replace('ory_at_', 'ory_at_x'))).toBeUndefined();
    // The last of 43 base64url characters carries 4 bits and 2 spare ones: another spelling of the
    // same signature bytes is still another token.
    const last = token.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) ^ 1] as string;
    expect(Buffer.from(`${token.slice(0, -1)}${sibling}`.split('.')[1] as string, 'base64url')).toEqual(
      Buffer.from(signature, 'base64url'),
    );
    expect(verifyOpaqueToken(old, 'accessToken', `${token.slice(0, -1)}${sibling}`)).toBeUndefined();
    expect(mintOpaqueToken(old, 'refreshToken').token).toMatch(/^ory_rt_/);
    expect(mintOpaqueToken(old, 'authorizeCode').token).toMatch(/^ory_ac_/);
  });
});

describe('time-ordered ids', () => {
  it('are version 7 UUIDs that sort by creation time and never repeat', () => {
    const random = new RandomPool();
    const timeOrderedUuid = (now: number) => random.timeOrderedUuid(now);
    const ids = Array.from({ length: 1000 }, (_, i) => timeOrderedUuid(1_700_000_000_000 + i));
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(timeOrderedUuid(1_700_000_000_000).startsWith('018bcfe5-6800-7')).toBe(true);
    const sameMillisecond = Array.from({ length: 1000 }, () => timeOrderedUuid(1_700_000_000_000));
    expect(new Set(sameMillisecond).size).toBe(1000);
  });
});
