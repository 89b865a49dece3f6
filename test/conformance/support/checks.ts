/**
 * The checks the conformance suite applies to everything it sees (its AbstractOIDCCServerTest and
 * PerformStandardIdTokenChecks; section 3.5 of the reference): every module's test runs each ID token,
 * authorization response, token response, userinfo answer and JWKS through these.
 */
import { createLocalJWKSet, decodeProtectedHeader, importJWK, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import { expect } from 'vitest';

const YEAR_SECONDS = 365 * 24 * 3600;
/** The clock skew the suite tolerates between it and the server. */
const SKEW_SECONDS = 5 * 60;
/** JWK members that only private or symmetric keys have. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/** RFC 6749 §4.1.2.1: error_description is limited to %x20-21 / %x23-5B / %x5D-7E. */
const ERROR_DESCRIPTION_CHARSET = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

export interface IdTokenExpectations {
  issuer: string;
  clientId: string;
  jwks: JSONWebKeySet;
  /** The nonce sent in the authorization request; when given, the ID token must echo it. */
  nonce?: string;
  /** The signing algorithm expected (RS256 unless the client registered another). */
  alg?: string;
}

/** The standard ID token checks; returns the verified claims. */
export async function checkIdToken(idToken: string, expected: IdTokenExpectations): Promise<JWTPayload> {
  const header = decodeProtectedHeader(idToken);
  expect(header.alg, 'ID token alg').toBe(expected.alg ?? 'RS256');
  expect(typeof header.kid, 'ID token header carries a kid').toBe('string');
  expect(
    expected.jwks.keys.some((key) => key.kid === header.kid),
    `the ID token's kid ${String(header.kid)} is in the JWKS`,
  ).toBe(true);
  const { payload } = await jwtVerify(idToken, createLocalJWKSet(expected.jwks), {
    issuer: expected.issuer,
    audience: expected.clientId,
    algorithms: [expected.alg ?? 'RS256'],
  });
  const now = Math.floor(Date.now() / 1000);
  expect(typeof payload.sub === 'string' && payload.sub.length > 0, 'sub present').toBe(true);
  expect(typeof payload.exp, 'exp present').toBe('number');
  expect(payload.exp as number, 'exp in the future').toBeGreaterThan(now - SKEW_SECONDS);
  // The suite's milliseconds-for-seconds check: an exp absurdly far away.
  expect(payload.exp as number, 'exp not absurdly far').toBeLessThan(now + 5 * YEAR_SECONDS);
  expect(typeof payload.iat, 'iat present').toBe('number');
  expect(payload.iat as number, 'iat not in the future').toBeLessThanOrEqual(now + SKEW_SECONDS);
  expect(payload.iat as number, 'iat not stale').toBeGreaterThan(now - 24 * 3600);
  if (Array.isArray(payload.aud) && payload.aud.length > 1) expect(payload.azp, 'azp with several audiences').toBe(expected.clientId);
  if (payload.auth_time !== undefined) {
    expect(typeof payload.auth_time, 'auth_time is a number').toBe('number');
    expect(payload.auth_time as number, 'auth_time not in the future').toBeLessThanOrEqual(now + SKEW_SECONDS);
    expect(payload.auth_time as number, 'auth_time less than a year old').toBeGreaterThan(now - YEAR_SECONDS);
  }
  if (payload.acr !== undefined) expect(typeof payload.acr === 'string' && payload.acr.length > 0, 'acr non-empty').toBe(true);
  if (expected.nonce !== undefined) expect(payload.nonce, 'nonce echoed').toBe(expected.nonce);
  if (payload.updated_at !== undefined) expect(Number.isInteger(payload.updated_at), 'updated_at is a number of seconds').toBe(true);
  return payload;
}

/** Decodes a JWT's payload without verifying it (for tokens already checked, or to compare claims). */
export function claimsOf(jwt: string): JWTPayload {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as JWTPayload;
}

/** An authorization response's parameters, wherever they came (query, fragment or form post). */
export function checkAuthorizationResponse(params: URLSearchParams, expected: { state?: string; issuer: string }): void {
  if (expected.state !== undefined) expect(params.get('state'), 'state echoed').toBe(expected.state);
  else expect(params.has('state'), 'no state invented').toBe(false);
  const iss = params.get('iss');
  if (iss !== null) expect(iss, 'iss (RFC 9207) is the issuer').toBe(expected.issuer);
  if (params.has('error')) checkErrorParameters(params);
}

/** An error response (authorization response or redirect): no code, a clean description, a valid error_uri. */
export function checkErrorParameters(params: URLSearchParams): void {
  expect(params.get('error'), 'error present').toMatch(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/);
  expect(params.has('code'), 'an error carries no code').toBe(false);
  expect(params.has('access_token'), 'an error carries no token').toBe(false);
  expect(params.has('id_token'), 'an error carries no ID token').toBe(false);
  const description = params.get('error_description');
  if (description !== null)
    expect(description, 'error_description charset (no CR, LF, TAB, quote or backslash)').toMatch(ERROR_DESCRIPTION_CHARSET);
  const uri = params.get('error_uri');
  if (uri !== null) expect(() => new URL(uri), 'error_uri is a URI').not.toThrow();
}

/** A token endpoint answer: 200, an access token, a numeric expires_in; returns the body. */
export function checkTokenResponse(status: number, body: Record<string, unknown>): Record<string, unknown> {
  expect(status, `token endpoint answered ${JSON.stringify(body)}`).toBe(200);
  expect(typeof body.access_token === 'string' && body.access_token.length > 0, 'access_token present').toBe(true);
  expect(typeof body.token_type, 'token_type present').toBe('string');
  if (body.expires_in !== undefined) expect(typeof body.expires_in, 'expires_in is a number').toBe('number');
  return body;
}

/** The server's JWKS: valid public keys with distinct kids, no private parts. */
export async function checkJwks(jwks: JSONWebKeySet): Promise<void> {
  expect(jwks.keys.length, 'the JWKS has keys').toBeGreaterThan(0);
  const kids = jwks.keys.map((key) => key.kid);
  expect(new Set(kids).size, 'distinct kids').toBe(kids.length);
  for (const key of jwks.keys) {
    expect(typeof key.kid, 'every key has a kid').toBe('string');
    for (const member of PRIVATE_MEMBERS) expect(key, `key ${key.kid} has no private member ${member}`).not.toHaveProperty(member);
    await expect(importJWK(key, key.alg ?? 'RS256'), `key ${key.kid} imports`).resolves.toBeDefined();
  }
}
