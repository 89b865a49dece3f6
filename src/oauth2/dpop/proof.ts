import { hash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { type CryptoKey, calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, type JWK, type JWTPayload, jwtVerify } from 'jose';
import type { OAuth2Client } from '../../client/model.js';
import { safeEqual } from '../../crypto/keyring.js';
import { HttpError } from '../../http/errors.js';
import type { DpopDeps } from '../deps.js';
import { fapi2DpopSigningAlgs } from '../fapi2.js';
import { acceptsDpopNonce, currentDpopNonce } from './nonce.js';
import { ProofKeys } from './proof-keys.js';

/**
 * DPoP proofs (RFC 9449 §4): the checks of §4.3 for one request, with `jose` doing the JOSE. Used by
 * the token endpoint (binding tokens to the proof's key) and by resource requests (`oidc/bearer.ts`,
 * proving possession of the key a token is bound to). fosite has no DPoP: the RFC is the authority.
 */

/** Longest proof read (a proof carries one public key; an RSA-8192 one fits easily). */
const MAX_PROOF_LENGTH = 8192;
const MAX_JTI_LENGTH = 256;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Members only private (or symmetric) JWKs have: a proof must embed a public key only (§4.2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const ASYMMETRIC_KEY_TYPES: ReadonlySet<string> = new Set(['EC', 'RSA', 'OKP']);

export type DpopErrorCode = 'invalid_dpop_proof' | 'use_dpop_nonce';

const DESCRIPTIONS: Record<DpopErrorCode, string> = {
  invalid_dpop_proof: 'The DPoP proof is invalid.',
  use_dpop_nonce: 'The authorization server requires a nonce in the DPoP proof.',
};

/**
 * A refused proof (RFC 9449 §5, §8): 400 as the token endpoint answers it; resource requests answer
 * the same code with 401 and a `WWW-Authenticate: DPoP` challenge (`oidc/bearer.ts`). `use_dpop_nonce`
 * carries the nonce to use in `DPoP-Nonce`.
 */
export class DpopProofError extends HttpError {
  constructor(
    readonly code: DpopErrorCode,
    hint: string,
    readonly nonce?: string,
  ) {
    super(code, 400, DESCRIPTIONS[code], hint);
    if (nonce !== undefined) this.withHeader('dpop-nonce', nonce);
  }
}

const invalid = (hint: string) => new DpopProofError('invalid_dpop_proof', hint);

/** What the proof must say about the request it comes with. */
export interface ProofExpectation {
  /** The algorithms the proof may be signed with (`dpopSigningAlgs`). */
  algorithms: readonly string[];
  /** The request's method (`htm`). */
  method: string;
  /** The URLs the request may have been addressed to (`htu`); compared without query and fragment. */
  urls: readonly string[];
  /** A resource request's access token: the proof's `ath` must be its hash (§4.3, step 11). */
  accessToken?: string;
}

/**
 * The one `DPoP` header of a request, or undefined when it has none. Two headers (which Node would
 * join with a comma) are refused: a request carries exactly one proof (§4.3, step 1).
 */
export function dpopHeader(request: FastifyRequest): string | undefined {
  const raw = request.raw.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'dpop') continue;
    if (value !== undefined) throw invalid('A request must carry exactly one DPoP header.');
    value = raw[i + 1] as string;
  }
  return value;
}

/** `scheme://host[:port]/path` of a URL as §4.3 compares `htu` (RFC 3986 §6 normalisation, no query or fragment). */
function comparableUrl(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return undefined;
  }
}

/**
 * Checks a proof (RFC 9449 §4.3) and answers the SHA-256 JWK thumbprint (RFC 7638) of its key, the
 * `jkt` tokens are bound to. With `oauth2.dpop.required_nonce`, a proof without a current nonce is
 * `use_dpop_nonce`. Each proof is accepted once: its `jti` is recorded (per key and URL) for as long
 * as its `iat` is acceptable.
 */
export async function verifyDpopProof(deps: DpopDeps, proof: string, expected: ProofExpectation): Promise<string> {
  const settings = deps.config.oauth2.dpop;
  const algorithms = [...expected.algorithms];
  if (algorithms.length === 0) throw invalid('This server does not accept DPoP proofs (oauth2.dpop.signing_alg_values allows none here).');
  if (proof.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(proof)) throw invalid('The DPoP header must carry one JWT in compact form.');
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw invalid('The DPoP proof has no readable JOSE header.');
  }
  if (header.typ !== 'dpop+jwt') throw invalid('The DPoP proof must have the "typ" header "dpop+jwt".');
  if (typeof header.alg !== 'string' || !algorithms.includes(header.alg)) {
    throw invalid(`The DPoP proof must be signed with one of ${algorithms.join(', ')}.`);
  }
  const jwk = header.jwk as (JWK & Record<string, unknown>) | undefined;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
    throw invalid('The DPoP proof must carry its public key in the "jwk" header.');
  if (PRIVATE_MEMBERS.some((member) => Object.hasOwn(jwk, member)) || !ASYMMETRIC_KEY_TYPES.has(String(jwk.kty))) {
    throw invalid('The "jwk" header of the DPoP proof must be a public asymmetric key, without private members.');
  }
  const now = deps.clock.now();
  // A key verified before is not imported again (ProofKeys); the signature is checked all the same.
  const keyId = ProofKeys.idOf(header.alg, jwk);
  const known = deps.dpopKeys.get(keyId);
  let payload: JWTPayload;
  let key: CryptoKey | undefined;
  try {
    const verified = await jwtVerify(proof, known ? () => known.key : EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms,
      currentDate: new Date(now),
    });
    payload = verified.payload;
    // jose hands back the key a resolver found (EmbeddedJWK imports a CryptoKey).
    key = verified.key as CryptoKey | undefined;
  } catch {
    throw invalid('The signature of the DPoP proof does not verify with its "jwk", or its claims are malformed.');
  }

  const { jti, htm, htu, iat } = payload as { jti?: unknown; htm?: unknown; htu?: unknown; iat?: unknown };
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) throw invalid('The DPoP proof must carry a "jti".');
  if (htm !== expected.method) throw invalid(`The "htm" claim of the DPoP proof must be "${expected.method}".`);
  const target = typeof htu === 'string' ? comparableUrl(htu) : undefined;
  if (target === undefined || !expected.urls.some((url) => comparableUrl(url) === target)) {
    throw invalid('The "htu" claim of the DPoP proof must be the URL of this request.');
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalid('The DPoP proof must carry an "iat".');
  if (Math.abs(now - iat * 1000) > settings.proof_max_age) {
    throw invalid('The DPoP proof was issued too long ago, or in the future (oauth2.dpop.proof_max_age).');
  }
  if (expected.accessToken !== undefined) {
    const ath = hash('sha256', expected.accessToken, 'base64url');
    if (typeof payload.ath !== 'string' || !safeEqual(payload.ath, ath)) {
      throw invalid('The "ath" claim of the DPoP proof must be the hash of the access token.');
    }
  }
  if (settings.required_nonce && !acceptsDpopNonce(deps.keyring, settings.nonce_lifetime, payload.nonce, now)) {
    throw new DpopProofError(
      'use_dpop_nonce',
      'Sign a new proof with the nonce of the DPoP-Nonce header.',
      currentDpopNonce(deps.keyring, settings.nonce_lifetime, now),
    );
  }
  const jkt = known?.jkt ?? (await calculateJwkThumbprint(jwk, 'sha256'));
  // Remembered while the proof's iat is acceptable: a replay within that time is refused.
  const remembered = await deps.usedJtis.use(`dpop\n${jkt}\n${target}`, jti, iat * 1000 + settings.proof_max_age + 1000);
  if (!remembered) throw invalid('The DPoP proof has already been used (its "jti" is known).');
  if (!known && key !== undefined) deps.dpopKeys.remember(keyId, { key, jkt });
  return jkt;
}

/**
 * The algorithms a proof of this client's may be signed with: `oauth2.dpop.signing_alg_values`, narrowed
 * by the FAPI 2.0 Security Profile (§5.4.1) when it applies; without a client, what every client may use
 * (discovery, resource servers' challenges).
 */
export function dpopSigningAlgs(deps: Pick<DpopDeps, 'config'>, client?: OAuth2Client): string[] {
  return fapi2DpopSigningAlgs(deps, client, deps.config.oauth2.dpop.signing_alg_values);
}

/** The nonce to hand out on a response, when nonces are required (RFC 9449 §8.2: a fresh one may come with any answer). */
export function offeredDpopNonce(deps: DpopDeps): string | undefined {
  const settings = deps.config.oauth2.dpop;
  return settings.required_nonce ? currentDpopNonce(deps.keyring, settings.nonce_lifetime, deps.clock.now()) : undefined;
}
