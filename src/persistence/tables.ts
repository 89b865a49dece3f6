import type { Generated } from 'kysely';

/** Row shapes of every table. Times are epoch milliseconds; JSON documents are text. */
export interface Tables {
  clients: ClientRow;
  jwks: JwkRow;
  login_sessions: LoginSessionRow;
  consent_sessions: ConsentSessionRow;
  oauth2_tokens: TokenRow;
  used_jtis: UsedJtiRow;
  forced_subjects: ForcedSubjectRow;
  users: UserRow;
  jwt_bearer_trusts: JwtBearerTrustRow;
  pushed_authorization_requests: PushedAuthorizationRequestRow;
  device_codes: DeviceCodeRow;
}

export interface ClientRow {
  id: string;
  client_name: string;
  owner: string;
  /** PBKDF2 or bcrypt hash; null for public clients. */
  secret_hash: string | null;
  /** JSON array of the rotated secrets' hashes (newest first), still valid for authentication; null: none. */
  rotated_secret_hashes: string | null;
  /** SHA-256 (hex) of the registration access token's signature. */
  registration_token_hash: string | null;
  /** The client's metadata (everything but secrets) as JSON. */
  document: string;
  /** 1 when dynamic registration created or last rewrote the client (its URLs chosen by the registrant). */
  self_registered: number;
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

/** A remembered (or, until it ends, an unremembered) login: Hydra's authentication session. */
export interface LoginSessionRow {
  id: string;
  subject: string;
  authenticated_at: number;
  remember: number;
  expires_at: number;
  identity_provider_session_id: string;
}

/** A completed consent (Hydra's flow row); its id is the flow id the challenges carry. */
export interface ConsentSessionRow {
  id: string;
  client_id: string;
  subject: string;
  login_session_id: string;
  /** JSON arrays. */
  granted_scope: string;
  granted_audience: string;
  remember: number;
  /** Seconds; 0 = forever. */
  remember_for: number;
  handled_at: number;
  /** The consent session as the admin API shows it, as JSON. */
  document: string;
}

/** Access tokens, refresh tokens and authorization codes, grouped into grants by request_id. */
export interface TokenRow {
  /** SHA-256 (hex) of the token's signature (opaque) or of its jti (JWT). */
  signature: string;
  kind: 'access_token' | 'refresh_token' | 'authorization_code';
  request_id: string;
  client_id: string;
  consent_id: string | null;
  subject: string;
  /** Space-separated granted scope. */
  scope: string;
  /** JSON array of the granted audience. */
  audience: string;
  /** JSON: claims and flow facts the token carries (see oauth2/token-store.ts). */
  session: string;
  requested_at: number;
  /** Epoch ms; 0 = never expires. */
  expires_at: number;
  active: number;
  used_at: number | null;
  used_count: number;
}

export interface UsedJtiRow {
  jti_hash: string;
  expires_at: number;
}

export interface ForcedSubjectRow {
  subject: string;
  client_id: string;
  forced_subject: string;
}

/** A person who signs in through the identity UI (`src/identity/`). */
export interface UserRow {
  /** A UUID; the subject of the tokens this person gets. */
  id: string;
  /** Lower-cased; unique. */
  username: string;
  /** Lower-cased; unique when set. */
  email: string | null;
  /** `$scrypt$N=…,r=…,p=…$salt$hash` (see identity/password.ts). */
  password_hash: string;
  /** The person's other standard OpenID Connect claims, as JSON. */
  claims: string;
  created_at: number;
  updated_at: number;
}

/** A trusted issuer of JWT-bearer grant assertions (Hydra's `trust.Grant`). */
export interface JwtBearerTrustRow {
  /** A UUID. */
  id: string;
  /** SHA-256 (hex) of issuer, subject and key id: at most one trust per triple. */
  identity_hash: string;
  issuer: string;
  /** Empty when allow_any_subject is 1. */
  subject: string;
  allow_any_subject: number;
  /** JSON array of the scope the issuer may grant. */
  scope: string;
  key_id: string;
  /** The issuer's public JWK as JSON. */
  public_jwk: string;
  created_at: number;
  expires_at: number;
}

/** A pushed authorization request (RFC 9126) not yet taken by the authorization endpoint. */
export interface PushedAuthorizationRequestRow {
  /** SHA-256 (hex) of the random part of its `request_uri`. */
  id_hash: string;
  client_id: string;
  /** The authorization request's parameters as JSON, sealed with `secrets.system`. */
  parameters: string;
  expires_at: number;
}

/** A device authorization request (RFC 8628); neither code is stored, only their signatures' hashes. */
export interface DeviceCodeRow {
  /** SHA-256 (hex) of the device code's HMAC signature. */
  device_code_signature: string;
  /** HMAC (hex) of the user code under the system secret; unique. */
  user_code_signature: string;
  request_id: string;
  client_id: string;
  /** Requested scope and audience, JSON arrays. */
  scope: string;
  audience: string;
  /** 0 pending, 1 granted, 2 denied, 3 used. */
  state: number;
  /** What was granted (JSON, sealed when sessions are encrypted at rest); `{}` until granted. */
  session: string;
  requested_at: number;
  expires_at: number;
  last_polled_at: number;
}
