import type { Kysely } from 'kysely';
import { PLAIN_SESSIONS, type SessionSealing } from '../persistence/session-sealing.js';
import type { DeviceCodeRow, Tables } from '../persistence/tables.js';
import { insertIfAbsent } from '../persistence/upsert.js';
import type { TokenSession } from './token-store.js';

export type DeviceState = 'pending' | 'granted' | 'denied' | 'used';
const STATE_CODES: Readonly<Record<DeviceState, number>> = { pending: 0, granted: 1, denied: 2, used: 3 };
const STATES: readonly DeviceState[] = ['pending', 'granted', 'denied', 'used'];

/** What the user granted the device, as the token endpoint will mint it. */
export interface DeviceGrant {
  subject: string;
  scope: string[];
  audience: string[];
  session: TokenSession;
  /** The consent the tokens belong to (the flow id). */
  consentId: string;
}

/** A device authorization request (RFC 8628 §3.1), times in epoch ms. */
export interface DeviceRequest {
  /** The storage key: SHA-256 (hex) of the device code's HMAC signature. */
  deviceCodeSignature: string;
  /** HMAC of the user code (see oauth2/device/user-code.ts). */
  userCodeSignature: string;
  requestId: string;
  clientId: string;
  scope: string[];
  audience: string[];
  state: DeviceState;
  /** Filled in once granted. */
  grant: DeviceGrant | undefined;
  requestedAt: number;
  expiresAt: number;
  lastPolledAt: number;
}

/**
 * The device authorization requests (`device_codes`). Lookups are by keyed hash only: the device code
 * by its signature's hash, the user code by its HMAC, so no query ever compares a raw code. State
 * changes are conditional updates, so two requests racing on one row leave one winner.
 */
export class DeviceCodeStore {
  constructor(
    private readonly db: Kysely<Tables>,
    private readonly sealing: SessionSealing = PLAIN_SESSIONS,
  ) {}

  /** Stores a new pending request; false when its user code's HMAC is taken (draw another code). */
  create(request: Omit<DeviceRequest, 'state' | 'grant' | 'lastPolledAt'>): Promise<boolean> {
    const row: DeviceCodeRow = {
      device_code_signature: request.deviceCodeSignature,
      user_code_signature: request.userCodeSignature,
      request_id: request.requestId,
      client_id: request.clientId,
      scope: JSON.stringify(request.scope),
      audience: JSON.stringify(request.audience),
      state: STATE_CODES.pending,
      session: '{}',
      requested_at: request.requestedAt,
      expires_at: request.expiresAt,
      last_polled_at: 0,
    };
    return insertIfAbsent(this.db, this.db.insertInto('device_codes').values(row), 'user_code_signature');
  }

  async findByDeviceCode(signature: string): Promise<DeviceRequest | undefined> {
    const row = await this.db.selectFrom('device_codes').selectAll().where('device_code_signature', '=', signature).executeTakeFirst();
    return row && this.fromRow(row);
  }

  /**
   * The request stored under any of `signatures` (a user code's HMAC under each system secret), the
   * earliest in the list first when several are (a code drawn again after a rotation).
   */
  async findByUserCode(signatures: readonly string[]): Promise<DeviceRequest | undefined> {
    if (signatures.length === 0) return undefined;
    const rows = await this.db.selectFrom('device_codes').selectAll().where('user_code_signature', 'in', signatures).execute();
    const [row] = rows.sort((a, b) => signatures.indexOf(a.user_code_signature) - signatures.indexOf(b.user_code_signature));
    return row && this.fromRow(row);
  }

  async findByRequestId(requestId: string): Promise<DeviceRequest | undefined> {
    const row = await this.db.selectFrom('device_codes').selectAll().where('request_id', '=', requestId).executeTakeFirst();
    return row && this.fromRow(row);
  }

  /**
   * Records a poll at `now` when the previous one was at least `intervalMs` before; false (and
   * nothing recorded) when the client polls faster than that (`slow_down`, RFC 8628 §3.5).
   */
  async recordPoll(signature: string, now: number, intervalMs: number): Promise<boolean> {
    const outcome = await this.db
      .updateTable('device_codes')
      .set({ last_polled_at: now })
      .where('device_code_signature', '=', signature)
      .where('last_polled_at', '<=', now - intervalMs)
      .executeTakeFirst();
    return Number(outcome.numUpdatedRows) > 0;
  }

  /** A pending, unexpired request becomes granted with what the user granted; false when it was not pending (or expired). */
  async grant(requestId: string, grant: DeviceGrant, now: number): Promise<boolean> {
    const row = await this.db
      .selectFrom('device_codes')
      .select('device_code_signature')
      .where('request_id', '=', requestId)
      .executeTakeFirst();
    if (!row) return false;
    const outcome = await this.db
      .updateTable('device_codes')
      .set({ state: STATE_CODES.granted, session: this.sealing.write(grant, row.device_code_signature) })
      .where('request_id', '=', requestId)
      .where('state', '=', STATE_CODES.pending)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(outcome.numUpdatedRows) > 0;
  }

  /** A pending request becomes denied (the login or consent app rejected it); false when it was not pending. */
  async deny(requestId: string): Promise<boolean> {
    return this.transition(requestId, 'pending', 'denied');
  }

  /** A granted request becomes used: its device code is spent. False when it was not granted (a replay, or a race lost). */
  async markUsed(requestId: string): Promise<boolean> {
    return this.transition(requestId, 'granted', 'used');
  }

  /** The janitor: deletes at most `limit` requests that expired before `cutoff` (epoch ms); how many it deleted. */
  async deleteExpired(cutoff: number, limit: number): Promise<number> {
    const outcome = await this.db
      .deleteFrom('device_codes')
      // A derived table for the batch's keys, as MySQL requires (see SqlTokenStore.deleteExpired).
      .where('device_code_signature', 'in', (eb) =>
        eb
          .selectFrom(
            eb.selectFrom('device_codes').select('device_code_signature').where('expires_at', '<', cutoff).limit(limit).as('batch'),
          )
          .select('batch.device_code_signature'),
      )
      .executeTakeFirst();
    return Number(outcome.numDeletedRows);
  }

  private async transition(requestId: string, from: DeviceState, to: DeviceState): Promise<boolean> {
    const outcome = await this.db
      .updateTable('device_codes')
      .set({ state: STATE_CODES[to] })
      .where('request_id', '=', requestId)
      .where('state', '=', STATE_CODES[from])
      .executeTakeFirst();
    return Number(outcome.numUpdatedRows) > 0;
  }

  private fromRow(row: DeviceCodeRow): DeviceRequest {
    const state = STATES[Number(row.state)] ?? 'denied';
    const grant =
      state === 'granted' || state === 'used' ? this.sealing.read<DeviceGrant>(row.session, row.device_code_signature) : undefined;
    return {
      deviceCodeSignature: row.device_code_signature,
      userCodeSignature: row.user_code_signature,
      requestId: row.request_id,
      clientId: row.client_id,
      scope: JSON.parse(row.scope) as string[],
      audience: JSON.parse(row.audience) as string[],
      state,
      grant,
      requestedAt: Number(row.requested_at),
      expiresAt: Number(row.expires_at),
      lastPolledAt: Number(row.last_polled_at),
    };
  }
}
