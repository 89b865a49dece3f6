import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { OAuth2Client } from '../client/model.js';
import type { Config } from '../config/schema.js';
import { type Keyring, sha256Base64, sha256Hex } from '../crypto/keyring.js';
import { mintOpaqueToken, type TokenKind as OpaqueKind, TOKEN_PREFIX, verifyOpaqueToken } from '../crypto/opaque-token.js';
import { ACCESS_TOKEN_SET, type KeyManager } from '../jwk/manager.js';
import type { Clock } from '../util/clock.js';
import { LruMap } from '../util/lru.js';
import { accessTokenExtClaims } from './access-token-claims.js';
import type { StoredToken, TokenKind, TokenSession, TokenStore } from './token-store.js';

/** Everything a new token of a grant shares with its siblings. */
export interface Grant {
  requestId: string;
  client: OAuth2Client;
  subject: string;
  scope: string[];
  audience: string[];
  session: TokenSession;
  consentId: string | null;
  requestedAt: number;
}

export interface MintedToken {
  token: string;
  row: StoredToken;
  /** Seconds until expiry (0 = never). */
  expiresIn: number;
}

const OPAQUE_KIND: Record<TokenKind, OpaqueKind> = {
  access_token: 'accessToken',
  refresh_token: 'refreshToken',
  authorization_code: 'authorizeCode',
};
/** Bound of the verified-token cache (about 200 bytes an entry). */
const MAX_VERIFIED_TOKENS = 4096;
const OPAQUE_KINDS = Object.entries(OPAQUE_KIND) as ReadonlyArray<[TokenKind, OpaqueKind]>;

/** What a presented token string stands for: the storage key (hash of its signature or JTI) and kind. */
interface PresentedToken {
  signature: string;
  kind: TokenKind;
}

/** Mints and resolves access tokens (opaque or RFC 9068 JWT), refresh tokens and authorization codes. */
export class TokenService {
  /**
   * Opaque tokens whose HMAC verified lately, by SHA-256 of the whole token: a resource server
   * introspects the same token on every call it serves. Verifying is a pure function of the token
   * and the system secrets (fixed for the life of the process), so an entry can only repeat the
   * verdict the HMAC would give again; expiry and revocation are still read from the store on every
   * use. Only successes are kept, as hashes (no token in memory), at most MAX_VERIFIED_TOKENS.
   */
  private readonly verified = new LruMap<string, PresentedToken>(MAX_VERIFIED_TOKENS);

  constructor(private readonly deps: { config: Config; keyring: Keyring; keys: KeyManager; store: TokenStore; clock: Clock }) {}

  /** Which access-token format a client gets: its own `access_token_strategy`, else `strategies.access_token`. */
  strategyFor(client: OAuth2Client): 'opaque' | 'jwt' {
    return (client.access_token_strategy || this.deps.config.strategies.access_token) as 'opaque' | 'jwt';
  }

  /** `strategy` overrides the client's format (token exchange's `requested_token_type=…:jwt`). */
  async mintAccessToken(
    grant: Grant,
    lifespanMs: number,
    now = Date.now(),
    strategy = this.strategyFor(grant.client),
  ): Promise<MintedToken> {
    if (strategy === 'jwt') return this.mintJwtAccessToken(grant, lifespanMs, now);
    return this.mintOpaque('access_token', grant, lifespanMs, now);
  }

  mintRefreshToken(grant: Grant, lifespanMs: number, now = Date.now()): MintedToken {
    return this.mintOpaque('refresh_token', grant, lifespanMs, now);
  }

  mintAuthorizationCode(grant: Grant, lifespanMs: number, now = Date.now()): MintedToken {
    return this.mintOpaque('authorization_code', grant, lifespanMs, now);
  }

  /**
   * The stored token a presented string stands for, or undefined when it is malformed, forged or
   * unknown. Says nothing about expiry or revocation: check `isActive`.
   */
  async resolve(token: string, kind?: TokenKind): Promise<StoredToken | undefined> {
    const presented = this.opaqueSignatureOf(token, kind) ?? (await this.jwtSignatureOf(token, kind));
    if (!presented) return undefined;
    const row = await this.deps.store.find(presented.signature);
    // The HMAC does not cover the prefix: the kind the prefix names must be the kind stored.
    if (!row || row.kind !== presented.kind) return undefined;
    return row;
  }

  isActive(row: StoredToken, now = this.deps.clock.now()): boolean {
    return row.active && (row.expiresAt === 0 || row.expiresAt > now);
  }

  /**
   * The storage key and kind of an opaque token (false when it carries a known prefix but fails its
   * HMAC); undefined when it has no opaque prefix, so may be a JWT. Synchronous: the hot path of
   * every introspection and grant.
   */
  private opaqueSignatureOf(token: string, kind: TokenKind | undefined): PresentedToken | false | undefined {
    for (const [candidate, opaque] of OPAQUE_KINDS) {
      if ((kind === undefined || kind === candidate) && token.startsWith(TOKEN_PREFIX[opaque])) {
        const id = sha256Base64(token);
        const known = this.verified.get(id);
        if (known) return known;
        const signature = verifyOpaqueToken(this.deps.keyring, opaque, token);
        if (!signature) return false;
        const presented = Object.freeze({ signature: sha256Hex(signature), kind: candidate });
        this.verified.set(id, presented);
        return presented;
      }
    }
    return undefined;
  }

  private async jwtSignatureOf(token: string, kind: TokenKind | undefined): Promise<PresentedToken | undefined> {
    if (kind !== undefined && kind !== 'access_token') return undefined;
    const jti = await this.verifyJwtAccessToken(token);
    return jti ? { signature: sha256Hex(`jwt:${jti}`), kind: 'access_token' } : undefined;
  }

  private async verifyJwtAccessToken(token: string): Promise<string | undefined> {
    if (token.split('.').length !== 3) return undefined;
    try {
      if (decodeProtectedHeader(token).typ !== 'at+jwt') return undefined;
      const { payload } = await jwtVerify(token, this.deps.keys.verifier(ACCESS_TOKEN_SET), {
        issuer: this.deps.config.urls.self.issuer,
        typ: 'at+jwt',
      });
      return typeof payload.jti === 'string' ? payload.jti : undefined;
    } catch {
      return undefined;
    }
  }

  private mintOpaque(kind: TokenKind, grant: Grant, lifespanMs: number, now: number): MintedToken {
    const { token, signature } = mintOpaqueToken(this.deps.keyring, OPAQUE_KIND[kind]);
    return { token, row: this.row(kind, sha256Hex(signature), grant, lifespanMs, now), expiresIn: Math.round(lifespanMs / 1000) };
  }

  private async mintJwtAccessToken(grant: Grant, lifespanMs: number, now: number): Promise<MintedToken> {
    const { config, keys } = this.deps;
    const signer = await keys.signingKey(ACCESS_TOKEN_SET);
    const jti = randomUUID();
    const iat = Math.floor(now / 1000);
    // The promoted `ext` claims first: the standard claims set below always win over them.
    const claims: JWTPayload & Record<string, unknown> = {
      ...accessTokenExtClaims(config.oauth2, grant.session.ext),
      client_id: grant.client.client_id,
      // RFC 9449 §6.1: a DPoP-bound token names its key, for resource servers that verify it locally.
      ...(grant.session.dpopJkt ? { cnf: { jkt: grant.session.dpopJkt } } : {}),
    };
    if (grant.session.act) claims.act = grant.session.act;
    const scopeClaim = config.strategies.jwt.scope_claim;
    if (scopeClaim !== 'string') claims.scp = grant.scope;
    if (scopeClaim !== 'list') claims.scope = grant.scope.join(' ');
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' })
      .setIssuer(config.urls.self.issuer)
      .setSubject(grant.subject)
      .setAudience(grant.audience)
      .setIssuedAt(iat)
      .setJti(jti);
    if (!config.oauth2.exclude_not_before_claim) jwt = jwt.setNotBefore(iat);
    if (lifespanMs > 0) jwt = jwt.setExpirationTime(iat + Math.round(lifespanMs / 1000));
    const token = await jwt.sign(signer.key);
    const row = this.row('access_token', sha256Hex(`jwt:${jti}`), grant, lifespanMs, now);
    row.session = { ...row.session, accessTokenStrategy: 'jwt' };
    return { token, row, expiresIn: Math.round(lifespanMs / 1000) };
  }

  private row(kind: TokenKind, signature: string, grant: Grant, lifespanMs: number, now: number): StoredToken {
    return {
      signature,
      kind,
      requestId: grant.requestId,
      clientId: grant.client.client_id,
      consentId: grant.consentId,
      subject: grant.subject,
      scope: grant.scope,
      audience: grant.audience,
      session: grant.session,
      requestedAt: grant.requestedAt,
      expiresAt: lifespanMs > 0 ? now + lifespanMs : 0,
      active: true,
      usedAt: null,
      usedCount: 0,
    };
  }
}
