import { type CryptoKey, createLocalJWKSet, importJWK, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Keyring } from '../crypto/keyring.js';
import { BadRequestError, NotFoundError } from '../http/errors.js';
import { assertUsableJwk, generateJwk, isPrivate, isSigningKey, type KeyRequest, keyAlg, publicPart } from './generate.js';
import type { KeyRepository, StoredKey } from './repository.js';

/** Hydra's built-in key sets: ID tokens (and userinfo, logout tokens, credentials) and JWT access tokens. */
export const ID_TOKEN_SET = 'hydra.openid.id-token';
export const ACCESS_TOKEN_SET = 'hydra.jwt.access-token';
export const BUILTIN_SETS = [ID_TOKEN_SET, ACCESS_TOKEN_SET] as const;
const isBuiltinSet = (setId: string) => (BUILTIN_SETS as readonly string[]).includes(setId);

const SEAL_PURPOSE = 'jwk-at-rest';
/** Least time between two re-reads of a set caused by a kid this node does not know (bounds forged-kid load). */
const UNKNOWN_KID_RELOAD_COOLDOWN_MS = 1000;

export interface SigningKey {
  kid: string;
  alg: string;
  key: CryptoKey | Uint8Array;
  jwk: JWK;
}

export interface KeyManagerDeps {
  repository: KeyRepository;
  keyring: Keyring;
  rsaBits: number;
  /** How long a set read from storage is served from memory (another node's change shows within this). */
  cacheTtlMs: number;
}

/**
 * JSON Web Key sets: private parts sealed at rest, the newest private key of a set signs,
 * and reads on hot paths come from a short-lived cache that local writes invalidate.
 */
export class KeyManager {
  private readonly cache = new Map<string, { until: number; keys: Promise<JWK[]> }>();
  private readonly signers = new Map<string, SigningKey>();
  private readonly reloadedAt = new Map<string, number>();
  /** The generation of missing built-in keys under way, shared so that racing callers make one key, not many. */
  private ensuring: Promise<void> | undefined;
  /** Generations of broadcast sets that did not exist, by set, shared as `ensuring` is. */
  private readonly generating = new Map<string, Promise<JWK>>();

  constructor(private readonly deps: KeyManagerDeps) {}

  /** Every key of a set, private where known, newest first. */
  async getSet(setId: string): Promise<JWK[]> {
    return this.unseal(await this.deps.repository.listSet(setId));
  }

  async getKey(setId: string, kid: string): Promise<JWK> {
    const key = (await this.getSet(setId)).find((jwk) => jwk.kid === kid);
    if (!key) throw new NotFoundError(`The JSON Web Key "${kid}" does not exist in set "${setId}".`);
    return key;
  }

  /** Generates a key into a set and returns it (with its private part). */
  async generate(setId: string, request: KeyRequest): Promise<JWK> {
    const jwk = await generateJwk(request, this.deps.rsaBits);
    await this.deps.repository.add([this.seal(setId, jwk)]);
    this.invalidate(setId);
    return jwk;
  }

  /** Replaces a whole set with the given keys. */
  async replaceSet(setId: string, keys: JWK[]): Promise<JWK[]> {
    await checkKeys(keys);
    const kids = new Set(keys.map((key) => key.kid));
    if (kids.size !== keys.length) throw new BadRequestError('Every key in a set needs a distinct kid.');
    // Oldest first, so the first key of the request ends up the newest (signing) key as in the list order.
    await this.deps.repository.replaceSet(
      setId,
      [...keys].reverse().map((jwk) => this.seal(setId, jwk)),
    );
    this.invalidate(setId);
    return keys;
  }

  async putKey(setId: string, kid: string, jwk: JWK): Promise<JWK> {
    if (jwk.kid !== undefined && jwk.kid !== kid)
      throw new BadRequestError(`The kid in the body ("${jwk.kid}") does not match the kid in the path ("${kid}").`);
    const key = { ...jwk, kid };
    await checkKeys([key]);
    await this.deps.repository.upsert(this.seal(setId, key));
    this.invalidate(setId);
    return key;
  }

  async deleteSet(setId: string): Promise<void> {
    const deleted = await this.deps.repository.deleteSet(setId);
    this.invalidate(setId);
    if (!deleted) throw new NotFoundError(`The JSON Web Key Set "${setId}" does not exist.`);
  }

  async deleteKey(setId: string, kid: string): Promise<void> {
    const deleted = await this.deps.repository.deleteKey(setId, kid);
    this.invalidate(setId);
    if (!deleted) throw new NotFoundError(`The JSON Web Key "${kid}" does not exist in set "${setId}".`);
  }

  /**
   * Generates an RS256 key into each built-in set that has no private asymmetric signing key (none yet,
   * deleted, symmetric only, or sealed under a secret no longer configured). Concurrent calls share one run.
   */
  ensureBuiltinSets(): Promise<void> {
    this.ensuring ??= this.generateMissingBuiltins().finally(() => {
      this.ensuring = undefined;
    });
    return this.ensuring;
  }

  private async generateMissingBuiltins(): Promise<void> {
    for (const setId of BUILTIN_SETS) {
      const keys = await this.getSet(setId);
      if (!keys.some(isSigningKey)) await this.generate(setId, { alg: 'RS256', use: 'sig' });
    }
  }

  /**
   * The newest private asymmetric signing key of a set (symmetric, encryption and public-only keys never sign,
   * as their tokens could not be verified with the JWKS); a built-in set without one gets one generated.
   */
  async signingKey(setId: string): Promise<SigningKey> {
    let jwk = (await this.cached(setId)).find(isSigningKey);
    if (!jwk && isBuiltinSet(setId)) {
      await this.ensureBuiltinSets();
      jwk = (await this.cached(setId)).find(isSigningKey);
    }
    if (!jwk) throw new Error(`key set ${setId} has no private signing key`);
    const kid = jwk.kid as string;
    const known = this.signers.get(setId);
    // The private part is compared too, not just the kid: a key replaced under the same kid (on any node) must
    // sign once the cache has re-read it, not stay imported here until restart.
    if (known?.kid === kid && known.jwk.d === jwk.d) return known;
    const alg = keyAlg(jwk);
    const signer = { kid, alg, key: await importJWK(jwk, alg), jwk };
    this.signers.set(setId, signer);
    return signer;
  }

  /**
   * What `/.well-known/jwks.json` publishes: the public keys of the sets `broadcast` names and of the built-in
   * sets (Hydra's order: the named sets first). A built-in set without a signing key, or a named set without
   * any key, gets an RS256 signing key generated (as Hydra does), so the key that will sign is published
   * before it signs.
   */
  async publicKeys(broadcast: readonly string[]): Promise<JWK[]> {
    const order = [...new Set([...broadcast, ACCESS_TOKEN_SET, ID_TOKEN_SET])];
    const read = () => Promise.all(order.map((setId) => (isBuiltinSet(setId) ? this.cached(setId) : this.ensureSetExists(setId))));
    let sets = await read();
    if (BUILTIN_SETS.some((setId) => !sets[order.indexOf(setId)]?.some(isSigningKey))) {
      await this.ensureBuiltinSets();
      sets = await read();
    }
    return sets.flat().flatMap((jwk) => publicPart(jwk) ?? []);
  }

  /** The keys of a set, generating an RS256 signing key into it when it has none; racing callers share one generation. */
  private async ensureSetExists(setId: string): Promise<JWK[]> {
    const keys = await this.cached(setId);
    if (keys.length > 0) return keys;
    let generating = this.generating.get(setId);
    if (!generating) {
      generating = this.generate(setId, { alg: 'RS256', use: 'sig' }).finally(() => this.generating.delete(setId));
      this.generating.set(setId, generating);
    }
    await generating;
    return this.cached(setId);
  }

  /** The public keys of one set (from the cache), to verify what this server signed with it. */
  async publicKeysOf(setId: string): Promise<JWK[]> {
    return (await this.cached(setId)).flatMap((jwk) => publicPart(jwk) ?? []);
  }

  /**
   * A `jwtVerify` key resolver over the public keys of one set. A kid missing from this node's cached copy may be
   * a key another node has just added: the set is then read again (at most once a second), so what another node
   * signs right after a rotation verifies here at once, not only after `cache.ttl`.
   */
  verifier(setId: string): JWTVerifyGetKey {
    return async (header, token) => {
      let keys = await this.publicKeysOf(setId);
      if (header.kid !== undefined && !keys.some((jwk) => jwk.kid === header.kid)) {
        const now = Date.now();
        if (now - (this.reloadedAt.get(setId) ?? 0) >= UNKNOWN_KID_RELOAD_COOLDOWN_MS) {
          this.reloadedAt.set(setId, now);
          this.cache.delete(setId);
          keys = await this.publicKeysOf(setId);
        }
      }
      return createLocalJWKSet({ keys })(header, token);
    };
  }

  private cached(setId: string): Promise<JWK[]> {
    const hit = this.cache.get(setId);
    if (hit && hit.until > Date.now()) return hit.keys;
    const keys = this.getSet(setId);
    this.cache.set(setId, { until: Date.now() + this.deps.cacheTtlMs, keys });
    keys.catch(() => this.cache.delete(setId));
    return keys;
  }

  private invalidate(setId: string): void {
    this.cache.delete(setId);
    this.signers.delete(setId);
  }

  private seal(setId: string, jwk: JWK): StoredKey {
    const kid = jwk.kid as string;
    const pub = publicPart(jwk);
    return {
      setId,
      kid,
      publicJwk: pub ? JSON.stringify(pub) : null,
      sealedPrivateJwk: isPrivate(jwk) ? this.deps.keyring.seal(SEAL_PURPOSE, JSON.stringify(jwk), sealContext(setId, kid)) : null,
      createdAt: Date.now(),
    };
  }

  private unseal(rows: StoredKey[]): JWK[] {
    return rows.flatMap((row) => {
      if (row.sealedPrivateJwk) {
        const plain = this.deps.keyring.open(SEAL_PURPOSE, row.sealedPrivateJwk, sealContext(row.setId, row.kid));
        if (plain) return [JSON.parse(plain.toString('utf8')) as JWK];
        // Sealed under a secret no longer configured: the private part is lost, the public part still serves.
      }
      return row.publicJwk ? [JSON.parse(row.publicJwk) as JWK] : [];
    });
  }
}

/**
 * Binds a sealed key to its set and kid. JSON keeps the pair unambiguous: a joined `set/kid` would let the
 * sealed key of set `a`, kid `b/c` open as set `a/b`, kid `c`.
 */
function sealContext(setId: string, kid: string): string {
  return JSON.stringify([setId, kid]);
}

async function checkKeys(keys: JWK[]): Promise<void> {
  for (const key of keys) {
    try {
      await assertUsableJwk(key);
    } catch (error) {
      throw new BadRequestError(`Invalid JSON Web Key: ${(error as Error).message}.`);
    }
  }
}
