import { createHash } from 'node:crypto';
import type { Keyring } from '../crypto/keyring.js';
import type { RandomPool } from '../crypto/random.js';
import { type FlowRecord, type FlowValue, pack, unpack } from './codec.js';

/**
 * Login, consent and logout state travels in the challenge and verifier strings themselves, AEAD-sealed,
 * so a flow costs no database write until it completes (see docs/flows.md). Each kind has its own
 * key (a login challenge cannot pass as a consent verifier); every state carries its CSRF value (the
 * flow id derives from it) and start time (for expiry); login and consent verifiers are bound to the
 * exact authorization request.
 */
export type FlowKind =
  | 'login-challenge'
  | 'login-verifier'
  | 'consent-challenge'
  | 'consent-verifier'
  | 'logout-challenge'
  | 'logout-verifier'
  | 'device-challenge'
  | 'device-verifier';

/** The original authorization request's parameters (without verifiers). */
export type AuthorizeParams = Record<string, string>;

export interface RejectedRequest {
  error: string;
  error_description: string;
  status_code: number;
}

/** Everything a flow can carry; each kind uses a subset. Fields at their defaults cost no bytes. */
export interface FlowState {
  /** The CSRF cookie value the browser must present; the flow id is derived from it. */
  csrf: string;
  /** When the authorization request arrived, epoch seconds. */
  requestedAt: number;
  /** Challenges: the authorization request. */
  params: AuthorizeParams;
  /** Verifiers: digest of the authorization request they continue. */
  bind: string;
  /** Login challenge: a remembered session was found; consent challenge: a remembered consent covers the request. */
  skip: boolean;
  // The login: a remembered session (login challenge) or the login app's decision (later kinds).
  subject: string;
  sid: string;
  authTime: number;
  /** The login session row is yet to be written (a fresh login). */
  newSession: boolean;
  remember: boolean;
  rememberFor: number;
  extendSessionLifespan: boolean;
  acr: string;
  amr: string[];
  context: unknown;
  forceSubjectIdentifier: string;
  identityProviderSessionId: string;
  // The consent app's decision (consent verifier).
  grantScope: string[];
  grantAudience: string[];
  consentRemember: boolean;
  consentRememberFor: number;
  accessTokenClaims: Record<string, unknown>;
  idTokenClaims: Record<string, unknown>;
  consentContext: unknown;
  handledAt: number;
  /** Login or consent rejected by the app: delivered to the client as an OAuth error. */
  rejected: RejectedRequest | null;
  /**
   * Logout: the client whose `id_token_hint` started an RP-initiated logout; empty for an OP-initiated
   * one (so `rp_initiated` is `clientId !== ''`). The logout request's `post_logout_redirect_uri` and
   * `state`, already validated, travel in `params`.
   */
  clientId: string;
  /**
   * Device flows (RFC 8628): the device authorization request the flow authorizes (set from the
   * device verifier on, carried through login and consent), and the device challenge's id.
   */
  deviceRequestId: string;
  deviceChallengeId: string;
}

/** A state with every field at its default (a fresh object each time: states are filled in place). */
function defaultState(): FlowState {
  return {
    csrf: '',
    requestedAt: 0,
    params: {},
    bind: '',
    skip: false,
    subject: '',
    sid: '',
    authTime: 0,
    newSession: false,
    remember: false,
    rememberFor: 0,
    extendSessionLifespan: false,
    acr: '',
    amr: [],
    context: {},
    forceSubjectIdentifier: '',
    identityProviderSessionId: '',
    grantScope: [],
    grantAudience: [],
    consentRemember: false,
    consentRememberFor: 0,
    accessTokenClaims: {},
    idTokenClaims: {},
    consentContext: {},
    handledAt: 0,
    rejected: null,
    clientId: '',
    deviceRequestId: '',
    deviceChallengeId: '',
  };
}

/** Compact names of the fields; request parameters never start with `$`, so they cannot collide. */
const FIELD_NAMES: Record<Exclude<keyof FlowState, 'params'>, string> = {
  csrf: '$csrf',
  requestedAt: '$at',
  bind: '$bind',
  skip: '$skip',
  subject: '$sub',
  sid: '$sid',
  authTime: '$auth',
  newSession: '$newsid',
  remember: '$rem',
  rememberFor: '$remfor',
  extendSessionLifespan: '$ext',
  acr: '$acr',
  amr: '$amr',
  context: '$ctx',
  forceSubjectIdentifier: '$fsi',
  identityProviderSessionId: '$idp',
  grantScope: '$scope',
  grantAudience: '$aud',
  consentRemember: '$crem',
  consentRememberFor: '$cremfor',
  accessTokenClaims: '$sat',
  idTokenClaims: '$sidt',
  consentContext: '$login',
  handledAt: '$q',
  rejected: '$err',
  clientId: '$cid',
  deviceRequestId: '$drid',
  deviceChallengeId: '$dcid',
};
const FIELD_OF: ReadonlyMap<string, string> = new Map(Object.entries(FIELD_NAMES).map(([field, name]) => [name, field]));

export function newCsrfToken(random: RandomPool): string {
  return random.bytes(16).toString('base64url');
}

/** The flow id: stable for the whole flow, derived from (and revealing nothing of) its CSRF value. */
export function flowIdOf(state: Pick<FlowState, 'csrf'>): string {
  return createHash('sha256').update(`flow:${state.csrf}`).digest().subarray(0, 16).toString('base64url');
}

/** A fresh login session id for a flow's new login (derived, so it costs no bytes in the state). */
export function newSessionIdOf(state: Pick<FlowState, 'csrf'>): string {
  return createHash('sha256').update(`sid:${state.csrf}`).digest().subarray(0, 16).toString('base64url');
}

/** A short digest tying a verifier to the exact authorization request it continues. */
export function bindingOf(params: AuthorizeParams): string {
  const canonical = Object.keys(params)
    .sort()
    .map((key) => `${encodeURIComponent(key)}=${encodeURIComponent(params[key] as string)}`)
    .join('&');
  return createHash('sha256').update(canonical).digest().subarray(0, 12).toString('base64url');
}

export function sealFlow(keyring: Keyring, kind: FlowKind, state: Partial<FlowState>): string {
  const record: FlowRecord = {};
  for (const [field, value] of Object.entries(state) as Array<[keyof FlowState, unknown]>) {
    if (field === 'params') {
      for (const [name, param] of Object.entries(value as AuthorizeParams)) if (!name.startsWith('$')) record[name] = param;
    } else if (!isDefault(value)) {
      record[FIELD_NAMES[field]] = value as FlowValue;
    }
  }
  return keyring.sealCompact(`flow:${kind}`, pack(record));
}

/** Opens a sealed state of the given kind; undefined when it is not one (forged, another kind, or an unknown secret). */
export function openFlow(keyring: Keyring, kind: FlowKind, sealed: string): FlowState | undefined {
  const bytes = keyring.openCompact(`flow:${kind}`, sealed);
  if (!bytes) return undefined;
  try {
    const state = defaultState() as unknown as Record<string, unknown>;
    const params: AuthorizeParams = {};
    const record = unpack(bytes);
    for (const name in record) {
      const field = FIELD_OF.get(name);
      if (field) state[field] = record[name];
      else if (!name.startsWith('$')) params[name] = String(record[name]);
    }
    state.params = params;
    return state as unknown as FlowState;
  } catch {
    return undefined;
  }
}

function isDefault(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === false || value === 0) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value as object).length === 0;
}
