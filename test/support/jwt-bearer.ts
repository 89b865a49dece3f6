import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';

/** An issuer's ES256 key pair as JWKs, the public half named `kid` (what a trust registers). */
export async function issuerKey(kid: string): Promise<{ public: JWK; private: JWK }> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { public: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }, private: await exportJWK(privateKey) };
}

export interface AssertionOptions {
  issuer: string;
  /** The token endpoint the assertion is meant for. */
  audience: string;
  signer: JWK;
  kid: string;
  /** Override the defaults (sub alice, iat now, exp in 5 minutes, a fresh jti); undefined drops one. */
  claims?: Record<string, unknown>;
}

/** A JWT-bearer assertion (RFC 7523) as an issuer signs it with jose. */
export async function signAssertion(options: AssertionOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const all: Record<string, unknown> = {
    iss: options.issuer,
    sub: 'alice',
    aud: options.audience,
    iat: now,
    exp: now + 300,
    jti: crypto.randomUUID(),
    ...options.claims,
  };
  const payload = Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined));
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: options.kid }).sign(await importJWK(options.signer, 'ES256'));
}
