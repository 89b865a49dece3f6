import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Keyring } from '../crypto/keyring.js';

/**
 * CSRF protection for the identity UI's forms, without server-side state: a signed double submit.
 *
 * The browser holds a random value in an HttpOnly cookie. Each form carries a token that is an HMAC,
 * under the UI's secret, of that value, the form's name and its challenge. A forged cross-site POST
 * cannot read the cookie, so it cannot compute the token; a token copied from one form or challenge
 * is useless for another; and without the secret nobody can make a token for a cookie value they
 * planted.
 */
export class CsrfGuard {
  private readonly keyring: Keyring;
  readonly cookieName: string;

  constructor(
    secrets: readonly string[],
    private readonly secureCookies: boolean,
  ) {
    this.keyring = new Keyring(secrets);
    // `__Host-` cookies are only accepted over https, for this host and path `/`: no subdomain can plant one.
    this.cookieName = secureCookies ? '__Host-portcullis_ui_csrf' : 'portcullis_ui_csrf';
  }

  /** The token for one form, setting the browser's CSRF cookie when it has none. */
  token(request: FastifyRequest, reply: FastifyReply, form: string, challenge: string): string {
    let value = this.cookieValue(request);
    if (value === undefined) {
      value = randomBytes(24).toString('base64url');
      const attributes = [`${this.cookieName}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
      if (this.secureCookies) attributes.push('Secure');
      reply.header('set-cookie', attributes.join('; '));
    }
    return this.keyring.sign('identity-ui-csrf', `${value}\n${form}\n${challenge}`);
  }

  /** True when the request carries the cookie and the token made from it for this form and challenge. */
  check(request: FastifyRequest, form: string, challenge: string, token: string | undefined): boolean {
    const value = this.cookieValue(request);
    if (value === undefined || !token) return false;
    return this.keyring.verify('identity-ui-csrf', `${value}\n${form}\n${challenge}`, token);
  }

  private cookieValue(request: FastifyRequest): string | undefined {
    for (const part of (request.headers.cookie ?? '').split(';')) {
      const index = part.indexOf('=');
      if (index > 0 && part.slice(0, index).trim() === this.cookieName) {
        const value = part.slice(index + 1).trim();
        // Only values this guard could have set: anything else is treated as no cookie (and replaced).
        return /^[A-Za-z0-9_-]{32}$/.test(value) ? value : undefined;
      }
    }
    return undefined;
  }
}
