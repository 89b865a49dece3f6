import type { Kysely, Transaction } from 'kysely';
import type { Tables, TokenRow } from '../persistence/tables.js';

export type TokenKind = TokenRow['kind'];

/** What a grant remembers beyond scope and audience: claims and the facts later requests check. */
export interface TokenSession {
  /** The grant type that started this grant (`authorization_code`, `client_credentials`, …). */
  grantType: string;
  /** Consent `session.access_token`: the `ext` of access tokens and introspection. */
  ext: Record<string, unknown>;
  /** Consent `session.id_token`: extra ID-token (and userinfo) claims. */
  idTokenClaims?: Record<string, unknown>;
  /** The subject shown to this client (pairwise or forced), when it differs from the real one. */
  obfuscatedSubject?: string;
  authTime?: number;
  requestedAt?: number;
  acr?: string;
  amr?: string[];
  sid?: string;
  nonce?: string;
  /** Authorization codes: what the token request must repeat. */
  redirectUri?: string;
  codeChallenge?: string;
  /** The access-token format chosen for this grant. */
  accessTokenStrategy?: 'opaque' | 'jwt';
}

export interface StoredToken {
  signature: string;
  kind: TokenKind;
  requestId: string;
  clientId: string;
  consentId: string | null;
  subject: string;
  scope: string[];
  audience: string[];
  session: TokenSession;
  requestedAt: number;
  /** Epoch ms; 0 = never. */
  expiresAt: number;
  active: boolean;
  usedAt: number | null;
  usedCount: number;
}

/** Token storage behind a narrow interface. Every change that spans rows runs in one transaction. */
export interface TokenStore {
  insert(tokens: StoredToken[]): Promise<void>;
  find(signature: string): Promise<StoredToken | undefined>;
  /**
   * Marks a code or refresh token used, if it still is active: true for the one caller that wins,
   * false when it was already used (a replay) or does not exist. `allowReuse` counts another use of a used
   * token (a refresh within its grace period).
   */
  markUsed(signature: string, now: number, allowReuse?: boolean): Promise<boolean>;
  /** Marks every token of a grant inactive (revocation, replay detection). */
  revokeGrant(requestId: string): Promise<void>;
  /** Deactivates the access tokens of a grant (they are replaced on refresh). */
  revokeAccessTokens(requestId: string): Promise<void>;
  /** Deletes every access token of a client (`DELETE /admin/oauth2/tokens`). */
  deleteAccessTokensOfClient(clientId: string): Promise<void>;
  /** Runs several changes atomically (the callback receives a store bound to the transaction). */
  transaction<T>(work: (store: TokenStore) => Promise<T>): Promise<T>;
}

export class SqlTokenStore implements TokenStore {
  constructor(private readonly db: Kysely<Tables> | Transaction<Tables>) {}

  async insert(tokens: StoredToken[]): Promise<void> {
    if (tokens.length === 0) return;
    await this.db.insertInto('oauth2_tokens').values(tokens.map(toRow)).execute();
  }

  async find(signature: string): Promise<StoredToken | undefined> {
    const row = await this.db.selectFrom('oauth2_tokens').selectAll().where('signature', '=', signature).executeTakeFirst();
    return row ? fromRow(row) : undefined;
  }

  async markUsed(signature: string, now: number, allowReuse = false): Promise<boolean> {
    let update = this.db
      .updateTable('oauth2_tokens')
      .set((eb) => ({ used_at: eb.fn.coalesce('used_at', eb.val(now)), used_count: eb('used_count', '+', 1), active: 0 }))
      .where('signature', '=', signature);
    update = allowReuse ? update : update.where('active', '=', 1);
    const result = await update.executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async revokeGrant(requestId: string): Promise<void> {
    await this.db.updateTable('oauth2_tokens').set({ active: 0 }).where('request_id', '=', requestId).execute();
  }

  async revokeAccessTokens(requestId: string): Promise<void> {
    await this.db
      .updateTable('oauth2_tokens')
      .set({ active: 0 })
      .where('request_id', '=', requestId)
      .where('kind', '=', 'access_token')
      .execute();
  }

  async deleteAccessTokensOfClient(clientId: string): Promise<void> {
    await this.db.deleteFrom('oauth2_tokens').where('client_id', '=', clientId).where('kind', '=', 'access_token').execute();
  }

  async transaction<T>(work: (store: TokenStore) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return (this.db as Kysely<Tables>).transaction().execute((tx) => work(new SqlTokenStore(tx)));
  }
}

function toRow(token: StoredToken): TokenRow {
  return {
    signature: token.signature,
    kind: token.kind,
    request_id: token.requestId,
    client_id: token.clientId,
    consent_id: token.consentId,
    subject: token.subject,
    scope: token.scope.join(' '),
    audience: JSON.stringify(token.audience),
    session: JSON.stringify(token.session),
    requested_at: token.requestedAt,
    expires_at: token.expiresAt,
    active: token.active ? 1 : 0,
    used_at: token.usedAt,
    used_count: token.usedCount,
  };
}

function fromRow(row: TokenRow): StoredToken {
  return {
    signature: row.signature,
    kind: row.kind,
    requestId: row.request_id,
    clientId: row.client_id,
    consentId: row.consent_id,
    subject: row.subject,
    scope: row.scope === '' ? [] : row.scope.split(' '),
    audience: JSON.parse(row.audience) as string[],
    session: JSON.parse(row.session) as TokenSession,
    requestedAt: row.requested_at,
    expiresAt: row.expires_at,
    active: row.active === 1 || (row.active as unknown) === true,
    usedAt: row.used_at,
    usedCount: row.used_count,
  };
}
