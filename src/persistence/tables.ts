import type { Generated } from 'kysely';

/** Row shapes of every table. Times are epoch milliseconds; JSON documents are text. */
export interface Tables {
  clients: ClientRow;
  jwks: JwkRow;
}

export interface ClientRow {
  id: string;
  client_name: string;
  owner: string;
  /** PBKDF2 or bcrypt hash; null for public clients. */
  secret_hash: string | null;
  /** SHA-256 (hex) of the registration access token's signature. */
  registration_token_hash: string | null;
  /** The client's metadata (everything but secrets) as JSON. */
  document: string;
  created_at: number;
  updated_at: number;
}

export interface JwkRow {
  pk: Generated<number>;
  set_id: string;
  kid: string;
  /** The public JWK as JSON (null for symmetric keys, which have no public part). */
  public_jwk: string | null;
  /** The full JWK, AES-256-GCM encrypted with a key derived from the system secret. */
  private_jwk: string | null;
  created_at: number;
}
