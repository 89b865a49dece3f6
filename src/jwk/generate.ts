import { randomUUID } from 'node:crypto';
import {
  CompactEncrypt,
  CompactSign,
  compactDecrypt,
  compactVerify,
  exportJWK,
  generateKeyPair,
  generateSecret,
  importJWK,
  type JWK,
} from 'jose';

/** Algorithms a key can be generated for (`POST /admin/keys/{set}`). */
export const GENERATABLE_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'HS256',
  'HS384',
  'HS512',
] as const;
export type GeneratableAlg = (typeof GENERATABLE_ALGS)[number];

/** Members of a JWK that must never leave the server in a public key set. */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'] as const;

export interface KeyRequest {
  alg: GeneratableAlg;
  use: 'sig' | 'enc';
  kid?: string;
}

/** A fresh private JWK (with `kid`, `alg`, `use`). */
export async function generateJwk(request: KeyRequest, rsaBits: number): Promise<JWK> {
  const kid = request.kid || randomUUID();
  let jwk: JWK;
  if (request.alg.startsWith('HS')) {
    jwk = await exportJWK(await generateSecret(request.alg, { extractable: true }));
  } else {
    const options =
      request.alg.startsWith('RS') || request.alg.startsWith('PS')
        ? { modulusLength: rsaBits, extractable: true }
        : request.alg === 'EdDSA'
          ? { crv: 'Ed25519', extractable: true }
          : { extractable: true };
    const { privateKey } = await generateKeyPair(request.alg, options);
    jwk = await exportJWK(privateKey);
  }
  return { ...jwk, kid, alg: request.alg, use: request.use };
}

/** The public half of a key, or undefined for symmetric keys (they have none). */
export function publicPart(jwk: JWK): JWK | undefined {
  if (jwk.kty === 'oct') return undefined;
  const copy: Record<string, unknown> = { ...jwk };
  for (const member of PRIVATE_MEMBERS) delete copy[member];
  delete copy.key_ops;
  return copy as JWK;
}

export function isPrivate(jwk: JWK): boolean {
  return PRIVATE_MEMBERS.some((member) => member in jwk);
}

/** Asymmetric JWS algorithms: what a key must be for to sign tokens others verify with the JWKS. */
const ASYMMETRIC_SIGNING_ALGS: ReadonlySet<string> = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);
const ASYMMETRIC_ENCRYPTION_ALGS: ReadonlySet<string> = new Set([
  'RSA-OAEP',
  'RSA-OAEP-256',
  'RSA-OAEP-384',
  'RSA-OAEP-512',
  'ECDH-ES',
  'ECDH-ES+A128KW',
  'ECDH-ES+A192KW',
  'ECDH-ES+A256KW',
]);
/** Symmetric algorithms and the key size each needs in bytes (HMAC: at least the hash size, RFC 7518 3.2). */
const SYMMETRIC_ALGS: Readonly<Record<string, { bytes: number; atLeast?: boolean }>> = {
  HS256: { bytes: 32, atLeast: true },
  HS384: { bytes: 48, atLeast: true },
  HS512: { bytes: 64, atLeast: true },
  A128KW: { bytes: 16 },
  A192KW: { bytes: 24 },
  A256KW: { bytes: 32 },
  A128GCMKW: { bytes: 16 },
  A192GCMKW: { bytes: 24 },
  A256GCMKW: { bytes: 32 },
  A128GCM: { bytes: 16 },
  A192GCM: { bytes: 24 },
  A256GCM: { bytes: 32 },
  'A128CBC-HS256': { bytes: 32 },
  'A192CBC-HS384': { bytes: 48 },
  'A256CBC-HS512': { bytes: 64 },
};
const BINARY_MEMBERS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'x', 'y', 'k'] as const;
const MIN_RSA_BITS = 2048;

/** The algorithm a key is for: its `alg`, else what its type, curve and `use` imply. */
export function keyAlg(jwk: JWK): string {
  if (jwk.alg) return jwk.alg;
  const enc = jwk.use === 'enc';
  if (jwk.kty === 'RSA') return enc ? 'RSA-OAEP' : 'RS256';
  if (jwk.kty === 'OKP') return jwk.crv === 'X25519' || jwk.crv === 'X448' ? 'ECDH-ES' : 'EdDSA';
  if (jwk.kty === 'oct') return 'HS256';
  if (enc) return 'ECDH-ES';
  return { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[jwk.crv ?? ''] ?? 'ES256';
}

/** True for a private asymmetric key meant for signing: the kind that may sign tokens of a set. */
export function isSigningKey(jwk: JWK): boolean {
  return isPrivate(jwk) && jwk.kty !== 'oct' && jwk.use !== 'enc' && ASYMMETRIC_SIGNING_ALGS.has(keyAlg(jwk));
}

/**
 * Throws with a reason when the key is not a usable JWK of the algorithm it is for: members that are not
 * base64url, an unknown algorithm, RSA shorter than 2048 bits, a symmetric key of the wrong size, a key
 * that does not import, or a private half that does not belong to its public half.
 */
export async function assertUsableJwk(jwk: JWK): Promise<void> {
  if (typeof jwk.kty !== 'string') throw new Error('every key needs a kty');
  if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new Error('every key needs a kid');
  if (jwk.use !== undefined && jwk.use !== 'sig' && jwk.use !== 'enc') throw new Error(`key ${jwk.kid}: use must be sig or enc`);
  for (const member of BINARY_MEMBERS) {
    const value = jwk[member];
    if (value !== undefined && (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value))) {
      throw new Error(`key ${jwk.kid}: ${member} must be a non-empty base64url string`);
    }
  }
  const alg = keyAlg(jwk);
  if (jwk.kty === 'oct') {
    const size = SYMMETRIC_ALGS[alg];
    if (!size) throw new Error(`key ${jwk.kid}: alg ${alg} is not an algorithm for symmetric keys`);
    const bytes = Buffer.from(jwk.k ?? '', 'base64url').length;
    if (bytes === 0) throw new Error(`key ${jwk.kid}: a symmetric key needs k`);
    if (size.atLeast ? bytes < size.bytes : bytes !== size.bytes) {
      throw new Error(`key ${jwk.kid}: ${alg} needs a key of ${size.atLeast ? 'at least ' : ''}${size.bytes * 8} bits`);
    }
    return;
  }
  if (!ASYMMETRIC_SIGNING_ALGS.has(alg) && !ASYMMETRIC_ENCRYPTION_ALGS.has(alg)) {
    throw new Error(`key ${jwk.kid}: alg ${alg} is not supported for ${jwk.kty} keys`);
  }
  if (jwk.kty === 'RSA' && modulusBits(jwk.n) < MIN_RSA_BITS)
    throw new Error(`key ${jwk.kid}: RSA keys need at least ${MIN_RSA_BITS} bits`);
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK({ ...jwk, ext: true }, alg);
  } catch (error) {
    throw new Error(`key ${jwk.kid} is not a valid ${jwk.kty} key for ${alg}: ${(error as Error).message}`);
  }
  if (isPrivate(jwk) && !(await halvesMatch(jwk, key, alg))) {
    throw new Error(`key ${jwk.kid}: the private part does not belong to the public part`);
  }
}

function modulusBits(n: string | undefined): number {
  const bytes = Buffer.from(n ?? '', 'base64url');
  const start = bytes.findIndex((byte) => byte !== 0);
  if (start === -1) return 0;
  return (bytes.length - start) * 8 - Math.clz32(bytes[start] as number) + 24;
}

/** Proves a private key and its public half are one pair: sign and verify, or encrypt and decrypt. */
async function halvesMatch(jwk: JWK, privateKey: Awaited<ReturnType<typeof importJWK>>, alg: string): Promise<boolean> {
  const pub = publicPart(jwk);
  if (!pub) return true;
  const probe = new TextEncoder().encode('portcullis key pair check');
  try {
    const publicKey = await importJWK({ ...pub, ext: true }, alg);
    if (ASYMMETRIC_SIGNING_ALGS.has(alg)) {
      const jws = await new CompactSign(probe).setProtectedHeader({ alg }).sign(privateKey);
      await compactVerify(jws, publicKey);
    } else {
      const jwe = await new CompactEncrypt(probe).setProtectedHeader({ alg, enc: 'A128GCM' }).encrypt(publicKey);
      await compactDecrypt(jwe, privateKey);
    }
    return true;
  } catch {
    return false;
  }
}
