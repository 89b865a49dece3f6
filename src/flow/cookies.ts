import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.js';
import { type Keyring, safeEqual } from '../crypto/keyring.js';

/**
 * The browser-side pieces of a flow: the login session cookie and per-client CSRF cookies, named as
 * Hydra names them (`ory_hydra_session`, `ory_hydra_login_csrf_<murmur3(client_id)>`, `_dev` in development).
 */
export type CsrfKind = 'login' | 'consent';

export function cookieName(config: Config, base: string): string {
  return config.dev ? `${base}_dev` : base;
}

export function csrfCookieName(config: Config, kind: CsrfKind, clientId: string): string {
  const base = kind === 'login' ? config.serve.cookies.names.login_csrf : config.serve.cookies.names.consent_csrf;
  return cookieName(config, `${base}_${murmur3(clientId)}`);
}

/** The logout flow's CSRF cookie (one per browser, not per client: a logout may have no client). */
export function logoutCsrfCookieName(config: Config): string {
  return cookieName(config, config.serve.cookies.names.logout_csrf);
}

/** The device flow's CSRF cookie (one per browser: the device challenge exists before its client is known). */
export function deviceCsrfCookieName(config: Config): string {
  return cookieName(config, config.serve.cookies.names.device_csrf);
}

export function sessionCookieName(config: Config): string {
  return cookieName(config, config.serve.cookies.names.session);
}

export function readCookies(request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index < 1) continue;
    const name = part.slice(0, index).trim();
    if (!(name in out)) {
      try {
        out[name] = decodeURIComponent(part.slice(index + 1).trim());
      } catch {
        // a malformed cookie is ignored, like an absent one
      }
    }
  }
  return out;
}

export interface CookieOptions {
  /** Seconds; undefined = a browser-session cookie; 0 = delete. */
  maxAge?: number;
  path?: string;
}

export function setCookie(reply: FastifyReply, config: Config, name: string, value: string, options: CookieOptions = {}): void {
  const { cookies } = config.serve;
  const secure = cookies.secure && !config.dev;
  // SameSite=None needs Secure; browsers refuse it on plain http, so development falls back to Lax.
  const sameSite = config.dev || (cookies.same_site_mode === 'None' && !secure) ? 'Lax' : cookies.same_site_mode;
  const attributes = [`${name}=${encodeURIComponent(value)}`, `Path=${options.path ?? '/'}`, 'HttpOnly', `SameSite=${sameSite}`];
  if (secure) attributes.push('Secure');
  if (cookies.domain) attributes.push(`Domain=${cookies.domain}`);
  if (options.maxAge !== undefined) {
    attributes.push(`Max-Age=${options.maxAge}`);
    if (options.maxAge === 0) attributes.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  }
  const existing = reply.getHeader('set-cookie');
  const list = Array.isArray(existing) ? existing : existing ? [String(existing)] : [];
  reply.header('set-cookie', [...list, attributes.join('; ')]);
}

/** The session cookie holds the session id and its MAC, so a cookie cannot name another session. */
export function sessionCookieValue(keyring: Keyring, sid: string): string {
  return `${sid}.${keyring.sign('session-cookie', sid)}`;
}

export function sessionIdFromCookie(keyring: Keyring, value: string | undefined): string | undefined {
  if (!value) return undefined;
  const [sid, mac, extra] = value.split('.');
  if (!sid || !mac || extra !== undefined) return undefined;
  return keyring.verify('session-cookie', sid, mac) ? sid : undefined;
}

export function csrfMatches(request: FastifyRequest, config: Config, kind: CsrfKind, clientId: string, expected: string): boolean {
  const presented = readCookies(request)[csrfCookieName(config, kind, clientId)];
  return presented !== undefined && expected !== '' && safeEqual(presented, expected);
}

/** MurmurHash3 (x86, 32-bit, seed 0) of a string's UTF-8 bytes, as Hydra suffixes its CSRF cookie names. */
export function murmur3(text: string): number {
  const data = Buffer.from(text, 'utf8');
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = 0;
  const blocks = data.length - (data.length % 4);
  for (let i = 0; i < blocks; i += 4) {
    let k = data.readUInt32LE(i);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = data.length & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= (data[blocks + 2] as number) << 16;
    if (tail >= 2) k ^= (data[blocks + 1] as number) << 8;
    k ^= data[blocks] as number;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= data.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
