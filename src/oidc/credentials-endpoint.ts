import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, importJWK, type JWK, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { withoutTrailingSlashes } from '../config/urls.js';
import type { RouteModule } from '../http/app.js';
import { noStore } from '../http/cache.js';
import { HttpError, InvalidRequestError, InvalidScopeError } from '../http/errors.js';
import { PRIVATE_MEMBERS } from '../jwk/generate.js';
import { ID_TOKEN_SET } from '../jwk/manager.js';
import { grantsCredentials, mintVcNonce, verifyVcNonce } from '../oauth2/credential-nonce.js';
import { activeAccessToken } from './bearer.js';
import { CREDENTIALS_SUPPORTED } from './credentials-supported.js';
import type { CredentialProofDeps } from './deps.js';
import { userinfoClaims } from './userinfo-claims.js';

const CREDENTIAL_LIFETIME_S = 3600;
const PROOF_ALGS = CREDENTIALS_SUPPORTED[0]?.cryptographic_suites_supported ?? [];
/** Claims that describe the token rather than the user; they stay out of the credential subject. */
const TOKEN_CLAIMS = ['iss', 'aud', 'iat', 'rat', 'auth_time', 'acr', 'amr'];

interface CredentialRequest {
  format?: string;
  types?: string[];
  proof?: { proof_type?: string; jwt?: string };
}

const requestSchema = {
  type: 'object',
  properties: {
    format: { type: 'string' },
    types: { type: 'array', items: { type: 'string' } },
    proof: { type: 'object', properties: { proof_type: { type: 'string' }, jwt: { type: 'string' } } },
  },
} as const;

/** 400 without a proof: tells the holder which nonce to sign (the draft's priming response). */
class MissingProofError extends HttpError {
  constructor(private readonly nonce: { nonce: string; expiresIn: number }) {
    super('missing_proof', 400, 'Could not issue a verifiable credential because the proof is missing in the request.');
  }
  override body() {
    return { ...super.body(), format: 'jwt_vc', c_nonce: this.nonce.nonce, c_nonce_expires_in: this.nonce.expiresIn };
  }
}

/**
 * `POST /credentials` (OpenID Connect UserInfo VC, draft 00, as Hydra): the holder proves it owns a
 * key by signing the nonce it was given for this access token; it gets a credential, signed with
 * the ID-token key, that binds the user's claims to `did:jwk` of that key.
 */
export const credentialsEndpoint: RouteModule = (app, registry) => {
  app.post<{ Body: CredentialRequest }>(
    '/credentials',
    {
      config: { oauth: true },
      schema: {
        body: requestSchema,
        response: { 200: { type: 'object', properties: { format: { type: 'string' }, credential_draft_00: { type: 'string' } } } },
      },
    },
    async (request, reply) => {
      noStore(reply);
      const { token, row } = await activeAccessToken(registry, request, reply);
      if (!grantsCredentials(row.scope)) {
        throw new InvalidScopeError('The access token must be granted the openid and userinfo_credential_draft_00 scopes.');
      }
      const body = request.body ?? {};
      if (body.format !== 'jwt_vc_json') throw new InvalidRequestError('The format must be jwt_vc_json.');
      if (!body.proof) throw new MissingProofError(mintVcNonce(registry.keyring, token, registry.config.ttl.vc_nonce));
      if (body.proof.proof_type !== 'jwt' || !body.proof.jwt)
        throw new InvalidRequestError('The proof must be of proof_type jwt and carry a jwt.');
      const holder = await verifyProof(registry, token, body.proof.jwt);

      const did = `did:jwk:${Buffer.from(JSON.stringify(holder)).toString('base64url')}`;
      const claims = userinfoClaims(registry, row);
      for (const name of TOKEN_CLAIMS) delete claims[name];
      const signer = await registry.keys.signingKey(ID_TOKEN_SET);
      const now = Math.floor(Date.now() / 1000);
      const credential = await new SignJWT({
        vc: {
          '@context': ['https://www.w3.org/2018/credentials/v1'],
          type: ['VerifiableCredential', 'UserInfoCredential'],
          credentialSubject: { ...claims, id: did },
        },
      })
        .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
        .setIssuer(registry.config.urls.self.issuer)
        .setSubject(did)
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + CREDENTIAL_LIFETIME_S)
        .sign(signer.key);
      return { format: 'jwt_vc_json', credential_draft_00: credential };
    },
  );
};

/** How old a proof's `iat` may be (OpenID4VCI leaves the window to the issuer; minutes are plenty to sign). */
const PROOF_MAX_AGE_S = 300;
/** How far in the future a proof's `iat` may lie (clock skew). */
const PROOF_IAT_LEEWAY_S = 60;

/**
 * The holder's public key, after checking the proof (OpenID4VCI §7.2.1, JWT proof type): signed by
 * that key, `aud` the issuer, `iat` recent, and the nonce one this access token was given and that
 * no proof used before. The nonce is recorded as used only when everything else passed, so a
 * refused proof does not spend it.
 */
async function verifyProof(registry: CredentialProofDeps, accessToken: string, proof: string): Promise<JWK> {
  let jwk: JWK | undefined;
  try {
    jwk = decodeProtectedHeader(proof).jwk;
  } catch {
    throw new InvalidRequestError('The proof is not a JWT.');
  }
  if (!jwk || typeof jwk !== 'object' || PRIVATE_MEMBERS.some((member) => member in jwk)) {
    throw new InvalidRequestError('The proof header must carry the holder\'s public key as "jwk".');
  }
  let payload: JWTPayload;
  try {
    const key = await importJWK(jwk, decodeProtectedHeader(proof).alg);
    ({ payload } = await jwtVerify(proof, key, { algorithms: PROOF_ALGS }));
  } catch {
    throw new InvalidRequestError('The proof signature does not verify with the key in its header.');
  }
  checkProofClaims(registry.config.urls.self.issuer, payload);
  const expires = verifyVcNonce(registry.keyring, accessToken, payload.nonce);
  if (expires === undefined) throw new InvalidRequestError('The proof does not carry a valid nonce for this access token.');
  if (!(await registry.usedJtis.use('vc_nonce', payload.nonce as string, expires))) {
    throw new InvalidRequestError('The nonce of this proof was already used; ask for a new one.');
  }
  // The DID is the key exactly as the holder presented it (did:jwk encodes the JWK's JSON).
  return jwk;
}

/** A proof is for this issuer (`aud`) and was made just now (`iat`), so it cannot be kept and replayed later. */
function checkProofClaims(issuer: string, payload: JWTPayload): void {
  const audiences = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
  if (!audiences.some((aud) => typeof aud === 'string' && withoutTrailingSlashes(aud) === withoutTrailingSlashes(issuer))) {
    throw new InvalidRequestError(`The "aud" claim of the proof must be the issuer (${issuer}).`);
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.iat !== 'number' || payload.iat < now - PROOF_MAX_AGE_S || payload.iat > now + PROOF_IAT_LEEWAY_S) {
    throw new InvalidRequestError(
      `The "iat" claim of the proof must be the time it was made (within the last ${PROOF_MAX_AGE_S} seconds).`,
    );
  }
}
