import type { ConsentSession, LoginSession } from './session-store.js';

/**
 * What the user granted at the end of a flow, as its consent verifier carries it: all that oauth2/
 * needs to mint the code and tokens, and what the flow saves in the same unit of work as them.
 */
export interface ConsentDecision {
  /** The real subject. */
  subject: string;
  /** The subject shown to this client (forced or pairwise), when it differs from the real one. */
  subjectForClient: string | undefined;
  scope: string[];
  audience: string[];
  /** The consent's id (the flow id): the tokens issued under it go when it is deleted. */
  consentId: string;
  /** When the authorization request was made, epoch seconds. */
  requestedAt: number;
  /** When the subject authenticated, epoch seconds. */
  authTime: number;
  acr: string;
  amr: string[];
  /** The login session id. */
  sid: string;
  /** Consent `session.access_token` and `session.id_token`. */
  accessTokenClaims: Record<string, unknown>;
  idTokenClaims: Record<string, unknown>;
  /** The completed consent; its id is the flow id, so a replayed verifier fails to record it. */
  consent: ConsentSession;
  /** A new or extended login session to save, if any. */
  loginSession: LoginSession | undefined;
  /** A subject identifier the login app forced for this client, to remember. */
  forcedSubject: string | undefined;
}
