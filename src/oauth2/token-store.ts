import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { GroupCommit } from '../persistence/group-commit.js';
import { CompiledStatements } from '../persistence/reusable-query.js';
import { PLAIN_SESSIONS, type SessionSealing } from '../persistence/session-sealing.js';
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
  /**
   * DPoP (RFC 9449): the SHA-256 JWK thumbprint the grant's tokens are bound to: a code's `dpop_jkt`,
   * the access tokens' `cnf.jkt`, a public client's refresh token's key (`oauth2/dpop/binding.ts`).
   */
  dpopJkt?: string;
  /** Token exchange (RFC 8693 §4.1): the actor, and the actors before it nested under `act`. */
  act?: ActClaim;
  /** The access-token format chosen for this grant. */
  accessTokenStrategy?: 'opaque' | 'jwt';
}

/** RFC 8693 §4.1 `act`: who acts for the subject; the actors before it nested, least recent deepest. */
export interface ActClaim {
  sub: string;
  /** The actor's issuer, when not this server. */
  iss?: string;
  act?: ActClaim;
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

/**
 * Token storage behind a narrow interface. Changes that must land together run in one unit of work
 * (`Persister.transaction`), which hands a store bound to its transaction.
 */
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
  /**
   * The janitor, first pass: deletes at most `limit` tokens that expired before `cutoff` (epoch ms);
   * how many. It walks the expiry index, so each batch starts where deletable rows are.
   */
  deleteExpired(cutoff: number, limit: number): Promise<number>;
  /**
   * The janitor, second pass: deletes at most `limit` tokens revoked or used before `cutoff`, or, with
   * `lifespans`, access and refresh tokens issued longer ago than their kind's lifespan (Hydra's
   * janitor flags). Nothing indexes those, so the pass goes through the tokens once, in key order:
   * each batch starts after `after`, the `last` key of the batch before, and `last` is undefined once
   * a batch found fewer than `limit` (the pass is over).
   */
  deleteRetired(cutoff: number, limit: number, lifespans?: TokenLifespans, after?: string): Promise<RetiredBatch>;
}

/** One batch of the janitor's second pass over the tokens. */
export interface RetiredBatch {
  deleted: number;
  /** Where the next batch starts; undefined when the pass is over. */
  last: string | undefined;
}

/** Lifespans (ms) that override the stored expiry when the janitor decides what is expired. */
export interface TokenLifespans {
  access_token?: number;
  refresh_token?: number;
}

export class SqlTokenStore implements TokenStore {
  /** Inserts outside transactions, each request's rows an item. */
  private readonly inserts = new GroupCommit<TokenRow[], void>({
    writeGroup: async (groups) => {
      await this.insertRows(groups.flat());
      return [];
    },
    writeOne: (rows) => this.insertRows(rows),
    sizeOf: (rows) => rows.length,
  });

  /**
   * `statements`: the compiled statements of the database this store's executor belongs to, shared
   * with the stores of its transactions (the lookup and the rotation run on every refresh).
   */
  constructor(
    private readonly db: Kysely<Tables>,
    private readonly sealing: SessionSealing = PLAIN_SESSIONS,
    private readonly statements = new CompiledStatements(),
  ) {}

  /**
   * Stores new tokens; resolves once they are committed. Outside a transaction, the inserts of
   * requests served in the same turn of the event loop are written together, as one statement and
   * one commit (group commit): every caller still waits for its own rows to be durable, and a
   * failing group is retried request by request, so one request's bad row fails only that request.
   */
  insert(tokens: StoredToken[]): Promise<void> {
    if (tokens.length === 0) return Promise.resolve();
    const rows = tokens.map((token) => toRow(token, this.sealing));
    return this.db.isTransaction ? this.insertRows(rows) : this.inserts.write(rows);
  }

  private async insertRows(rows: TokenRow[]): Promise<void> {
    // Every row comes from toRow, so each has the same columns in the same order: the compiled
    // INSERT's parameters are the rows' values one row after the other.
    await this.statements.run(
      this.db,
      `tokens-insert-${rows.length}`,
      (db) => db.insertInto('oauth2_tokens').values(rows),
      rows.flatMap((row) => Object.values(row)),
    );
  }

  /** The lookup by signature (primary key) of every introspection and grant. */
  async find(signature: string): Promise<StoredToken | undefined> {
    const [row] = await this.statements.rows(
      this.db,
      'tokens-by-signature',
      (db) => db.selectFrom('oauth2_tokens').selectAll().where('signature', '=', signature),
      [signature],
    );
    return row ? fromRow(row, this.sealing) : undefined;
  }

  async markUsed(signature: string, now: number, allowReuse = false): Promise<boolean> {
    const result = await this.statements.run(
      this.db,
      allowReuse ? 'tokens-mark-used-again' : 'tokens-mark-used',
      (db) => {
        const update = db
          .updateTable('oauth2_tokens')
          .set((eb) => ({
            used_at: eb.fn.coalesce('used_at', eb.val(now)),
            used_count: eb('used_count', '+', sql.lit(1)),
            active: sql.lit(0),
          }))
          .where('signature', '=', signature);
        return allowReuse ? update : update.where('active', '=', sql.lit(1));
      },
      [now, signature],
    );
    return Number(result.numAffectedRows ?? 0) === 1;
  }

  async revokeGrant(requestId: string): Promise<void> {
    await this.db.updateTable('oauth2_tokens').set({ active: 0 }).where('request_id', '=', requestId).where('active', '=', 1).execute();
  }

  async revokeAccessTokens(requestId: string): Promise<void> {
    await this.statements.run(
      this.db,
      'tokens-revoke-access',
      (db) =>
        db
          .updateTable('oauth2_tokens')
          .set({ active: sql.lit(0) })
          .where('request_id', '=', requestId)
          .where('kind', '=', sql.lit<TokenKind>('access_token'))
          // Only active rows: the family index (0004) then skips every access token the family has retired.
          .where('active', '=', sql.lit(1)),
      [requestId],
    );
  }

  async deleteAccessTokensOfClient(clientId: string): Promise<void> {
    await this.db.deleteFrom('oauth2_tokens').where('client_id', '=', clientId).where('kind', '=', 'access_token').execute();
  }

  async deleteExpired(cutoff: number, limit: number): Promise<number> {
    const outcome = await this.db
      .deleteFrom('oauth2_tokens')
      .where('signature', 'in', (eb) =>
        // The batch's keys come from a derived table: MySQL refuses LIMIT in an IN subquery, and a
        // subquery reading the table being deleted from; a derived table it materializes first.
        eb
          .selectFrom(
            eb
              .selectFrom('oauth2_tokens')
              .select('signature')
              // A range of the expiry index (0 is "never expires"): deleted rows leave it, so no batch
              // reads past rows an earlier one kept.
              .where('expires_at', '>', 0)
              .where('expires_at', '<', cutoff)
              .limit(limit)
              .as('batch'),
          )
          .select('batch.signature'),
      )
      .executeTakeFirst();
    return Number(outcome.numDeletedRows);
  }

  async deleteRetired(cutoff: number, limit: number, lifespans: TokenLifespans = {}, after?: string): Promise<RetiredBatch> {
    const overridden = Object.entries(lifespans).filter((entry): entry is [TokenRow['kind'], number] => entry[1] !== undefined);
    const retired = (w: ExpressionBuilder<Tables, 'oauth2_tokens'>) =>
      w.or([
        // Revoked or used: aged from its use when it was used (a refresh token in its grace period stays).
        w.and([w('active', '=', 0), w(w.fn.coalesce('used_at', 'requested_at'), '<', cutoff)]),
        ...overridden.map(([kind, lifespan]) => w.and([w('kind', '=', kind), w('requested_at', '<', cutoff - lifespan)])),
      ]);
    // The keys first, in key order from where the last batch ended: a DELETE … LIMIT of whatever
    // matches would scan from the start of the table each time, past every row kept so far, which
    // makes a pass over a large store quadratic.
    let found = this.db.selectFrom('oauth2_tokens').select('signature').where(retired).orderBy('signature').limit(limit);
    if (after !== undefined) found = found.where('signature', '>', after);
    const keys = (await found.execute()).map((row) => row.signature);
    if (keys.length === 0) return { deleted: 0, last: undefined };
    // Still retired (nothing makes a token live again, but the statement says what it deletes).
    const outcome = await this.db.deleteFrom('oauth2_tokens').where('signature', 'in', keys).where(retired).executeTakeFirst();
    return { deleted: Number(outcome.numDeletedRows), last: keys.length < limit ? undefined : keys[keys.length - 1] };
  }
}

function toRow(token: StoredToken, sealing: SessionSealing): TokenRow {
  return {
    signature: token.signature,
    kind: token.kind,
    request_id: token.requestId,
    client_id: token.clientId,
    consent_id: token.consentId,
    subject: token.subject,
    scope: token.scope.join(' '),
    audience: JSON.stringify(token.audience),
    session: sealing.write(token.session, token.signature),
    requested_at: token.requestedAt,
    expires_at: token.expiresAt,
    active: token.active ? 1 : 0,
    used_at: token.usedAt,
    used_count: token.usedCount,
  };
}

/** The token of a row; undefined when its session is sealed with no configured secret, so the token is unknown. */
function fromRow(row: TokenRow, sealing: SessionSealing): StoredToken | undefined {
  const session = sealing.read<TokenSession>(row.session, row.signature);
  if (!session) return undefined;
  return {
    signature: row.signature,
    kind: row.kind,
    requestId: row.request_id,
    clientId: row.client_id,
    consentId: row.consent_id,
    subject: row.subject,
    scope: row.scope === '' ? [] : row.scope.split(' '),
    audience: JSON.parse(row.audience) as string[],
    session,
    requestedAt: row.requested_at,
    expiresAt: row.expires_at,
    active: row.active === 1 || (row.active as unknown) === true,
    usedAt: row.used_at,
    usedCount: row.used_count,
  };
}
