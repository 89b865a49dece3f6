import { type Kysely, sql } from 'kysely';
import { CompiledStatements } from '../persistence/reusable-query.js';
import { PLAIN_SESSIONS, type SessionSealing } from '../persistence/session-sealing.js';
import type { ConsentSessionRow, LoginSessionRow, Tables } from '../persistence/tables.js';
import { insertIfAbsent, upsert } from '../persistence/upsert.js';

/** A page of a subject's consents (`GET /admin/oauth2/auth/sessions/consent`). */
export interface ConsentPageQuery {
  subject: string;
  loginSessionId?: string;
  limit: number;
  /** Keyset pagination: only consents whose id sorts after this one. */
  afterId?: string;
}

export interface LoginSession {
  id: string;
  subject: string;
  /** Epoch ms. */
  authenticatedAt: number;
  remember: boolean;
  expiresAt: number;
  identityProviderSessionId: string;
}

/** A completed consent. `document` is the consent session as the admin API lists it. */
export interface ConsentSession {
  id: string;
  clientId: string;
  subject: string;
  loginSessionId: string;
  grantScope: string[];
  grantAudience: string[];
  remember: boolean;
  /** Seconds; 0 = forever. */
  rememberFor: number;
  handledAt: number;
  document: Record<string, unknown>;
}

/**
 * Login sessions, completed consents and forced subjects. Changes that must land together run in
 * one unit of work (`Persister.transaction`), which hands a store bound to its transaction.
 */
export interface SessionStore {
  findLoginSession(id: string): Promise<LoginSession | undefined>;
  /** Writes a new session, or refreshes an existing one (extend_session_lifespan). */
  saveLoginSession(session: LoginSession): Promise<void>;
  deleteLoginSession(id: string): Promise<boolean>;
  loginSessionsOfSubject(subject: string): Promise<LoginSession[]>;
  deleteLoginSessionsOfSubject(subject: string): Promise<number>;
  /** Records a completed consent; false when this flow's consent was already recorded (a replayed verifier). */
  insertConsent(consent: ConsentSession): Promise<boolean>;
  findConsent(id: string): Promise<ConsentSession | undefined>;
  /** The newest remembered consents of a subject for a client that have not expired. */
  rememberedConsents(subject: string, clientId: string, now: number): Promise<ConsentSession[]>;
  listConsents(subject: string, loginSessionId?: string): Promise<ConsentSession[]>;
  /**
   * One page of a subject's consents in id order (Hydra's keyset order), after `afterId`; `lastId`
   * is the last row's id when the page is full (where the next page starts), and `total` counts them all.
   */
  listConsentsPage(query: ConsentPageQuery): Promise<{ items: ConsentSession[]; lastId: string | undefined; total: number }>;
  /** The clients that completed a consent within a login session (those to notify when it ends). */
  clientIdsOfLoginSession(loginSessionId: string): Promise<string[]>;
  /** Deletes consents (and, by cascade, every token issued under them). */
  deleteConsents(subject: string, clientId?: string): Promise<number>;
  /** Deletes one consent by its consent request id (and, by cascade, its tokens); false when there was none. */
  deleteConsentById(id: string): Promise<boolean>;
  forcedSubject(subject: string, clientId: string): Promise<string | undefined>;
  setForcedSubject(subject: string, clientId: string, forced: string): Promise<void>;
  /** The janitor: deletes at most `limit` login sessions that ended before `cutoff` (epoch ms); how many it deleted. */
  deleteEndedLoginSessions(cutoff: number, limit: number): Promise<number>;
  /**
   * The janitor: deletes at most `limit` consents handled before `cutoff` that are no longer
   * remembered and that no token belongs to (deleting one would cascade to its tokens).
   */
  deleteStaleConsents(cutoff: number, limit: number): Promise<number>;
}

export class SqlSessionStore implements SessionStore {
  constructor(
    private readonly db: Kysely<Tables>,
    private readonly sealing: SessionSealing = PLAIN_SESSIONS,
    private readonly statements = new CompiledStatements(),
  ) {}

  async findLoginSession(id: string): Promise<LoginSession | undefined> {
    const row = await this.db.selectFrom('login_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? loginFromRow(row) : undefined;
  }

  async saveLoginSession(session: LoginSession): Promise<void> {
    const row: LoginSessionRow = {
      id: session.id,
      subject: session.subject,
      authenticated_at: session.authenticatedAt,
      remember: session.remember ? 1 : 0,
      expires_at: session.expiresAt,
      identity_provider_session_id: session.identityProviderSessionId,
    };
    await upsert(this.db, this.db.insertInto('login_sessions').values(row), ['id'], {
      expires_at: row.expires_at,
      remember: row.remember,
      authenticated_at: row.authenticated_at,
    }).execute();
  }

  async deleteLoginSession(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('login_sessions').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async loginSessionsOfSubject(subject: string): Promise<LoginSession[]> {
    const rows = await this.db.selectFrom('login_sessions').selectAll().where('subject', '=', subject).execute();
    return rows.map(loginFromRow);
  }

  async deleteLoginSessionsOfSubject(subject: string): Promise<number> {
    const result = await this.db.deleteFrom('login_sessions').where('subject', '=', subject).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async insertConsent(consent: ConsentSession): Promise<boolean> {
    return insertIfAbsent(this.db, this.db.insertInto('consent_sessions').values(toConsentRow(consent, this.sealing)), 'id');
  }

  /** Every step of a flow asks whether its consent was already stored (a used challenge). */
  async findConsent(id: string): Promise<ConsentSession | undefined> {
    const [row] = await this.statements.rows(
      this.db,
      'consents-by-id',
      (db) => db.selectFrom('consent_sessions').selectAll().where('id', '=', id),
      [id],
    );
    return row ? consentFromRow(row, this.sealing) : undefined;
  }

  async rememberedConsents(subject: string, clientId: string, now: number): Promise<ConsentSession[]> {
    const rows = await this.db
      .selectFrom('consent_sessions')
      .selectAll()
      .where('subject', '=', subject)
      .where('client_id', '=', clientId)
      .where('remember', '=', 1)
      .orderBy('handled_at', 'desc')
      .limit(20)
      .execute();
    return this.consentsOf(rows).filter((c) => c.rememberFor === 0 || c.handledAt + c.rememberFor * 1000 > now);
  }

  async listConsents(subject: string, loginSessionId?: string): Promise<ConsentSession[]> {
    let query = this.db.selectFrom('consent_sessions').selectAll().where('subject', '=', subject);
    if (loginSessionId) query = query.where('login_session_id', '=', loginSessionId);
    return this.consentsOf(await query.orderBy('handled_at', 'desc').execute());
  }

  async listConsentsPage(query: ConsentPageQuery): Promise<{ items: ConsentSession[]; lastId: string | undefined; total: number }> {
    let filtered = this.db.selectFrom('consent_sessions').where('subject', '=', query.subject);
    if (query.loginSessionId) filtered = filtered.where('login_session_id', '=', query.loginSessionId);
    let page = filtered.selectAll().orderBy('id').limit(query.limit);
    if (query.afterId !== undefined) page = page.where('id', '>', query.afterId);
    const [rows, count] = await Promise.all([
      page.execute(),
      filtered.select((eb) => eb.fn.countAll<number | string>().as('total')).executeTakeFirstOrThrow(),
    ]);
    const lastId = rows.length === query.limit ? rows[rows.length - 1]?.id : undefined;
    return { items: this.consentsOf(rows), lastId, total: Number(count.total) };
  }

  /** The consents of rows, leaving out those sealed with no configured secret. */
  private consentsOf(rows: ConsentSessionRow[]): ConsentSession[] {
    return rows.flatMap((row) => consentFromRow(row, this.sealing) ?? []);
  }

  async clientIdsOfLoginSession(loginSessionId: string): Promise<string[]> {
    if (!loginSessionId) return [];
    const rows = await this.db
      .selectFrom('consent_sessions')
      .select('client_id')
      .distinct()
      .where('login_session_id', '=', loginSessionId)
      .execute();
    return rows.map((row) => row.client_id).sort();
  }

  async deleteConsents(subject: string, clientId?: string): Promise<number> {
    let query = this.db.deleteFrom('consent_sessions').where('subject', '=', subject);
    if (clientId !== undefined) query = query.where('client_id', '=', clientId);
    return Number((await query.executeTakeFirst()).numDeletedRows);
  }

  async deleteConsentById(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('consent_sessions').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async forcedSubject(subject: string, clientId: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('forced_subjects')
      .select('forced_subject')
      .where('subject', '=', subject)
      .where('client_id', '=', clientId)
      .executeTakeFirst();
    return row?.forced_subject;
  }

  async setForcedSubject(subject: string, clientId: string, forced: string): Promise<void> {
    const insert = this.db.insertInto('forced_subjects').values({ subject, client_id: clientId, forced_subject: forced });
    await upsert(this.db, insert, ['subject', 'client_id'], { forced_subject: forced }).execute();
  }
  async deleteEndedLoginSessions(cutoff: number, limit: number): Promise<number> {
    const outcome = await this.db
      .deleteFrom('login_sessions')
      .where('id', 'in', (eb) =>
        // The batch's keys come from a derived table: MySQL refuses LIMIT in an IN subquery, and a
        // subquery reading the table being deleted from; a derived table it materializes first.
        eb
          .selectFrom(eb.selectFrom('login_sessions').select('id').where('expires_at', '<', cutoff).limit(limit).as('batch'))
          .select('batch.id'),
      )
      .executeTakeFirst();
    return Number(outcome.numDeletedRows);
  }

  async deleteStaleConsents(cutoff: number, limit: number): Promise<number> {
    const outcome = await this.db
      .deleteFrom('consent_sessions')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom((inner) =>
            inner
              .selectFrom('consent_sessions as c')
              .select('c.id')
              .where('c.handled_at', '<', cutoff)
              .where((w) =>
                w.or([
                  w('c.remember', '=', 0),
                  // Remembered for a while, and that while is over (remember_for is in seconds; 0 = forever).
                  w.and([w('c.remember_for', '>', 0), w(sql<number>`c.handled_at + c.remember_for * 1000`, '<', cutoff)]),
                ]),
              )
              .where((w) =>
                w.not(w.exists(w.selectFrom('oauth2_tokens as t').select(sql<number>`1`.as('one')).whereRef('t.consent_id', '=', 'c.id'))),
              )
              .limit(limit)
              .as('batch'),
          )
          .select('batch.id'),
      )
      .executeTakeFirst();
    return Number(outcome.numDeletedRows);
  }
}

function loginFromRow(row: LoginSessionRow): LoginSession {
  return {
    id: row.id,
    subject: row.subject,
    authenticatedAt: row.authenticated_at,
    remember: Number(row.remember) === 1,
    expiresAt: row.expires_at,
    identityProviderSessionId: row.identity_provider_session_id,
  };
}

function toConsentRow(consent: ConsentSession, sealing: SessionSealing): ConsentSessionRow {
  return {
    id: consent.id,
    client_id: consent.clientId,
    subject: consent.subject,
    login_session_id: consent.loginSessionId,
    granted_scope: JSON.stringify(consent.grantScope),
    granted_audience: JSON.stringify(consent.grantAudience),
    remember: consent.remember ? 1 : 0,
    remember_for: consent.rememberFor,
    handled_at: consent.handledAt,
    document: sealing.write(consent.document, consent.id),
  };
}

/** The consent of a row; undefined when its document is sealed with no configured secret. */
function consentFromRow(row: ConsentSessionRow, sealing: SessionSealing): ConsentSession | undefined {
  const document = sealing.read<Record<string, unknown>>(row.document, row.id);
  if (!document) return undefined;
  return {
    id: row.id,
    clientId: row.client_id,
    subject: row.subject,
    loginSessionId: row.login_session_id,
    grantScope: JSON.parse(row.granted_scope) as string[],
    grantAudience: JSON.parse(row.granted_audience) as string[],
    remember: Number(row.remember) === 1,
    rememberFor: Number(row.remember_for),
    handledAt: Number(row.handled_at),
    document,
  };
}
