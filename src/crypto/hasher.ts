import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';

const pbkdf2Async = promisify(pbkdf2);

export interface SecretHasher {
  hash(secret: string): Promise<string>;
  /** Verifies against any supported format, so hashes survive a change of algorithm. */
  verify(secret: string, hash: string): Promise<boolean>;
}

export interface HasherOptions {
  algorithm: 'pbkdf2' | 'bcrypt';
  pbkdf2Iterations: number;
  bcryptCost: number;
}

const PBKDF2_FORMAT = /^\$pbkdf2-(sha256|sha512)\$i=(\d+),l=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;
const KEY_LENGTH = 32;

/** Client-secret hashing in Hydra's formats: `$pbkdf2-sha256$i=…,l=32$salt$hash` or bcrypt. */
export function createHasher(options: HasherOptions): SecretHasher {
  return {
    async hash(secret) {
      if (options.algorithm === 'bcrypt') return bcrypt.hash(secret, options.bcryptCost);
      const salt = randomBytes(16);
      const key = await pbkdf2Async(secret, salt, options.pbkdf2Iterations, KEY_LENGTH, 'sha256');
      return `$pbkdf2-sha256$i=${options.pbkdf2Iterations},l=${KEY_LENGTH}$${unpadded(salt)}$${unpadded(key)}`;
    },
    async verify(secret, hash) {
      const match = PBKDF2_FORMAT.exec(hash);
      if (match) {
        const [, digest, iterations, length, salt, expected] = match as unknown as string[];
        const storedKey = Buffer.from(expected as string, 'base64');
        const derivedKey = await pbkdf2Async(
          secret,
          Buffer.from(salt as string, 'base64'),
          Number(iterations),
          Number(length),
          digest as string,
        );
        return derivedKey.length === storedKey.length && timingSafeEqual(derivedKey, storedKey);
      }
      if (/^\$2[aby]\$\d\d\$/.test(hash)) return bcrypt.compare(secret, hash);
      return false;
    },
  };
}

function unpadded(buffer: Buffer): string {
  return buffer.toString('base64').replace(/=+$/, '');
}
