import type { CryptoKey } from 'jose';
import { sha256Base64 } from '../../crypto/keyring.js';
import { LruMap } from '../../util/lru.js';

/** At most this many proof keys are remembered (least recently used forgotten first). */
const MAX_PROOF_KEYS = 1024;

/** A proof key as verification needs it: imported for WebCrypto, and its SHA-256 JWK thumbprint. */
export interface ProofKey {
  readonly key: CryptoKey;
  readonly jkt: string;
}

/**
 * The keys of DPoP proofs this process verified, so that a client's next proof skips importing its
 * `jwk` (WebCrypto's JWK import cost more than the signature check itself) and hashing its thumbprint.
 * An entry is keyed by a SHA-256 of the header's `alg` and the whole `jwk` as the header spelled it,
 * not by the thumbprint, which leaves out members the import honours (`alg`, `use`, `key_ops`): the
 * same `alg` and `jwk` always import to the same key, so an entry only repeats what jose would answer
 * again. It skips no check: every proof's signature is still verified with the key, and its claims,
 * nonce and `jti` checked as before. Only keys a proof was accepted with are remembered, at most
 * MAX_PROOF_KEYS (a few hundred KB). Owned by the registry, one per process.
 */
export class ProofKeys {
  private readonly entries = new LruMap<string, ProofKey>(MAX_PROOF_KEYS);

  /** The lookup key for a proof's `alg` and `jwk` header members. */
  static idOf(alg: string, jwk: unknown): string {
    return sha256Base64(`${alg}\n${JSON.stringify(jwk)}`);
  }

  get(id: string): ProofKey | undefined {
    return this.entries.get(id);
  }

  remember(id: string, key: ProofKey): void {
    this.entries.set(id, key);
  }
}
