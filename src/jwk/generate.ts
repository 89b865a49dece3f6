import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, generateSecret, importJWK, type JWK } from 'jose';

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

/** Throws with a reason when the key cannot be imported as the JWK it claims to be. */
export async function assertUsableJwk(jwk: JWK): Promise<void> {
  if (typeof jwk.kty !== 'string') throw new Error('every key needs a kty');
  if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new Error('every key needs a kid');
  if (jwk.use !== undefined && jwk.use !== 'sig' && jwk.use !== 'enc') throw new Error(`key ${jwk.kid}: use must be sig or enc`);
  const alg = jwk.alg ?? defaultAlg(jwk);
  try {
    await importJWK({ ...jwk, ext: true }, alg);
  } catch (error) {
    throw new Error(`key ${jwk.kid} is not a valid ${jwk.kty} key: ${(error as Error).message}`);
  }
}

function defaultAlg(jwk: JWK): string {
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  if (jwk.kty === 'oct') return 'HS256';
  return { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[jwk.crv ?? ''] ?? 'ES256';
}
