import type { OAuth2Api } from '@ory/hydra-client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../observability/logger.js';
import type { CsrfGuard } from './csrf.js';
import { type Page, sendPage } from './html.js';
import { errorPage } from './pages.js';
import type { UiSettings } from './settings.js';
import type { SignInThrottle } from './throttle.js';
import type { UserStore } from './user-store.js';

/** What every identity UI route uses. */
export interface UiContext {
  readonly settings: UiSettings;
  /** The Portcullis admin API (Ory's SDK). */
  readonly api: OAuth2Api;
  readonly users: UserStore;
  readonly csrf: CsrfGuard;
  /** Sign-in throttling and the bound on concurrent password checks (this process's memory). */
  readonly signIns: SignInThrottle;
  readonly logger: Logger;
}

export function show(ui: UiContext, reply: FastifyReply, page: Page): FastifyReply {
  return sendPage(reply, ui.settings.product, page);
}

/** Sends the browser on (to Portcullis, which continues the flow); never cached. */
export function redirect(reply: FastifyReply, url: string): FastifyReply {
  return reply.header('cache-control', 'no-store').redirect(url, 302);
}

/** A single-valued text parameter from a query string or form: anything else (missing, repeated) is undefined. */
export function param(source: unknown, name: string): string | undefined {
  const value = (source as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** The challenge a page was opened with (query) or posted with (form); undefined when missing or absurdly long. */
export function challengeFrom(request: FastifyRequest, name: string): string | undefined {
  const source = request.method === 'POST' ? request.body : request.query;
  const value = param(source, name);
  return value && value.length <= 16_384 ? value : undefined;
}

export function missingChallenge(ui: UiContext, reply: FastifyReply): FastifyReply {
  return show(
    ui,
    reply,
    errorPage({
      status: 400,
      title: 'Nothing to do here',
      message: 'This page is part of signing in to an application. Open the application and start from there.',
    }),
  );
}

/** The answer to a form whose CSRF token is missing or does not match: nothing is accepted. */
export function refuseForm(ui: UiContext, reply: FastifyReply): FastifyReply {
  return show(
    ui,
    reply,
    errorPage({
      status: 403,
      title: 'This form has expired',
      message: 'For your security, the form could not be accepted. Go back to the application and try again.',
    }),
  );
}

/** Posts from another site are refused before their token is even looked at (browsers say where a request comes from). */
export function crossSite(request: FastifyRequest): boolean {
  return request.headers['sec-fetch-site'] === 'cross-site';
}

/**
 * True when a login or consent request continues a device flow (RFC 8628) rather than a sign-in in
 * this browser: Portcullis, as Hydra, starts those from its device verification endpoint, whose
 * address the request carries as `request_url`.
 */
export function fromDevice(requestUrl: string | undefined): boolean {
  if (!requestUrl) return false;
  try {
    return new URL(requestUrl).pathname.endsWith('/oauth2/device/verify');
  } catch {
    return false;
  }
}
