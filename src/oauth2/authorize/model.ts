import type { JWTPayload } from 'jose';
import type { OAuth2Client } from '../../client/model.js';

// The validated authorization request, shared by oauth2/ and flow/ (a leaf: it imports neither).

export type ResponseMode = 'query' | 'fragment' | 'form_post';

/** A validated authorization request (RFC 6749 §4, OIDC Core §3). */
export interface AuthorizeRequest {
  /** Every parameter as received (without verifiers), as it goes into the flow state. */
  params: Record<string, string>;
  client: OAuth2Client;
  redirectUri: string;
  /** Whether `redirect_uri` was sent (the token request must then repeat it). */
  redirectUriSent: boolean;
  responseTypes: Set<string>;
  responseMode: ResponseMode;
  state: string;
  nonce: string;
  scope: string[];
  /** The requested audience: the `audience` values, then the `resource` values (RFC 8707). */
  audience: string[];
  prompt: Set<string>;
  maxAge: number | undefined;
  idTokenHintClaims: JWTPayload | undefined;
  codeChallenge: string;
  /** RFC 9449 §10: the thumbprint of the DPoP key the code is bound to. */
  dpopJkt?: string;
}
