// The names RFC 8693 gives token exchange and the token types it speaks of (§3), apart from the grant so
// the client model, the configuration schema and discovery can name them without importing the grant.

export const TOKEN_EXCHANGE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** RFC 8693 §3 token type identifiers. */
export const TOKEN_TYPES = {
  access_token: 'urn:ietf:params:oauth:token-type:access_token',
  refresh_token: 'urn:ietf:params:oauth:token-type:refresh_token',
  id_token: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  saml1: 'urn:ietf:params:oauth:token-type:saml1',
  saml2: 'urn:ietf:params:oauth:token-type:saml2',
} as const;

/** The types token exchange can verify as a subject or actor token: this server's access and ID tokens, trusted issuers' JWTs. */
export const EXCHANGEABLE_TOKEN_TYPES = [TOKEN_TYPES.access_token, TOKEN_TYPES.id_token, TOKEN_TYPES.jwt] as const;
export type ExchangeableTokenType = (typeof EXCHANGEABLE_TOKEN_TYPES)[number];
