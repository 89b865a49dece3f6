/**
 * Raw HTTP helpers shared by the black-box tests: client credentials, form posts, the token
 * endpoint, and the checks of Hydra's error JSON. One copy of each, so every test encodes and
 * asserts the same way.
 */
import type { JsonWebKey, JsonWebKeySet } from '@ory/hydra-client';
import type { JWK } from 'jose';
import { expect } from 'vitest';

/** One value `application/x-www-form-urlencoded` (space as `+`, everything but `*-._` and alphanumerics escaped). */
export function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/**
 * HTTP Basic client credentials as RFC 6749 §2.3.1 encodes them: id and secret each form-urlencoded,
 * then `id:secret` in base64. A test that sends another encoding on purpose builds its header itself.
 */
export function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`;
}

/** A form: one value per name, or several for a repeated parameter. */
export type Form = Record<string, string | string[]>;

export interface FormAnswer {
  status: number;
  headers: Headers;
  /** The raw body. */
  text: string;
  /** The JSON body (an empty object when there is none). */
  body: Record<string, unknown>;
}

/** POSTs a urlencoded form (a string is sent verbatim) and reads the JSON answer. */
export async function postForm(url: string, form: Form | string, headers: Record<string, string> = {}): Promise<FormAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof form === 'string' ? form : formBody(form),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

function formBody(form: Form): string {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(form)) for (const one of Array.isArray(value) ? value : [value]) body.append(name, one);
  return body.toString();
}

/** `POST /oauth2/token` on a server's public listener. */
export function tokenRequest(server: { publicUrl: string }, form: Form, headers: Record<string, string> = {}): Promise<FormAnswer> {
  return postForm(`${server.publicUrl}/oauth2/token`, form, headers);
}

/** Asserts an OAuth 2.0 error answer as Hydra sends it: exactly `error` and `error_description`, never cached. */
export function expectOAuthError(answer: Pick<FormAnswer, 'status' | 'headers' | 'body'>, status: number, error: string): void {
  expect(answer.status).toBe(status);
  expect(Object.keys(answer.body).sort()).toEqual(['error', 'error_description']);
  expect(answer.body.error).toBe(error);
  expect(typeof answer.body.error_description).toBe('string');
  expect(answer.headers.get('cache-control')).toBe('no-store');
}

/** What a raw answer carries, whether from fetch (`Headers`) or undici's pool (a header record). */
export interface RawAnswer {
  status: number;
  headers: Headers | Record<string, string | string[] | undefined>;
  text: string;
}

const STACK_TRACE = /\bat .+\.(js|ts):\d+/;

/**
 * Asserts the error JSON every failure carries: served as JSON, exactly `{error, error_description}`,
 * a non-empty `error`, no stack trace. `status` is the exact status, or `'client error'` for any 4xx.
 * Returns the body.
 */
export function expectErrorJson(answer: RawAnswer, status: number | 'client error'): { error: string; error_description: string } {
  if (status === 'client error') {
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
  } else {
    expect(answer.status, answer.text.slice(0, 200)).toBe(status);
  }
  expect(headerOf(answer, 'content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(answer.text) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  expect(typeof body.error).toBe('string');
  expect(body.error).not.toBe('');
  expect(typeof body.error_description).toBe('string');
  expect(answer.text).not.toMatch(STACK_TRACE);
  return body as { error: string; error_description: string };
}

function headerOf(answer: RawAnswer, name: string): string {
  const value = answer.headers instanceof Headers ? answer.headers.get(name) : answer.headers[name];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

/** The status, headers and error body of a rejected Ory SDK (axios) call. */
export interface SdkRejection {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
}

/** Awaits an SDK call that must fail, and returns its answer; an error without an answer is rethrown. */
export async function rejection(call: Promise<unknown>): Promise<SdkRejection> {
  try {
    await call;
  } catch (error) {
    const response = (error as { response?: { status: number; headers: SdkRejection['headers']; data: SdkRejection['body'] } }).response;
    if (response) return { status: response.status, headers: response.headers, body: response.data };
    throw error;
  }
  throw new Error('expected the call to fail');
}

/**
 * A jose JWK as the Ory SDK's client `jwks`. The SDK types `alg`, `use`, `kid` and `kty` as required,
 * but RFC 7517 makes all but `kty` optional and the server accepts keys without them; tests register
 * such keys on purpose (e.g. no `alg`), so this is the one place that widens the type.
 */
export function sdkJwks(...keys: JWK[]): JsonWebKeySet {
  return { keys: keys as JsonWebKey[] };
}
