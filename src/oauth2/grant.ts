import type { FastifyRequest } from 'fastify';
import type { OAuth2Client } from '../client/model.js';
import type { GrantDeps } from './deps.js';
import type { FormBody } from './token-params.js';

// What the token endpoint and its grant handlers share, apart from both so neither imports the other.

/** The token response (RFC 6749 §5.1) as Hydra shapes it. */
export interface TokenResponse {
  access_token: string;
  /** `DPoP` for a DPoP-bound access token (RFC 9449 §5). */
  token_type: 'bearer' | 'DPoP';
  /** Token exchange (RFC 8693 §2.2.1): the type of the token issued. */
  issued_token_type?: string;
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  /** Verifiable credentials (draft 00): a nonce for the credential request's proof. */
  c_nonce_draft_00?: string;
  c_nonce_expires_in_draft_00?: number;
}

export interface GrantContext {
  registry: GrantDeps;
  client: OAuth2Client;
  body: FormBody;
  request: FastifyRequest;
  /** The thumbprint of the key the request's DPoP proof proved (RFC 9449), when it carried one. */
  dpopJkt?: string;
}

export type GrantHandler = (context: GrantContext) => Promise<TokenResponse>;
