import type { FastifyReply } from 'fastify';
import type { Config } from '../../config/schema.js';
import { publicUrl } from '../../config/urls.js';
import type { HttpError } from '../../http/errors.js';
import { escapeHtml, sendHtml } from '../../http/html.js';
import type { ResponseMode } from './model.js';

export interface Destination {
  redirectUri: string;
  responseMode: ResponseMode;
  state: string;
}

/**
 * Delivers an authorization response to the client as its response mode asks, always with the
 * RFC 9207 `iss` parameter (mix-up defence) and the client's `state`.
 */
export function deliver(reply: FastifyReply, config: Config, to: Destination, values: Record<string, string>): FastifyReply {
  const params = new URLSearchParams(values);
  const description = params.get('error_description');
  if (description !== null) params.set('error_description', describableInRfc6749(description));
  if (to.state) params.set('state', to.state);
  params.set('iss', config.urls.self.issuer);
  reply.header('cache-control', 'no-store');
  if (to.responseMode === 'form_post') {
    const inputs = [...params]
      .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
      .join('');
    return sendHtml(
      reply,
      'Submit this form',
      (nonce) =>
        `<form method="post" action="${escapeHtml(to.redirectUri)}">${inputs}<noscript><button type="submit">Continue</button></noscript></form>` +
        `<script nonce="${nonce}">document.forms[0].submit()</script>`,
    );
  }
  const separator = to.responseMode === 'fragment' ? '#' : to.redirectUri.includes('?') ? '&' : '?';
  return reply.redirect(`${to.redirectUri}${separator}${params}`, 302);
}

/**
 * RFC 6749 §4.1.2.1: error_description may only hold %x20-21 / %x23-5B / %x5D-7E. Hydra's messages quote
 * parameter names ("none"), and a login or consent app may reject with any text, so an error sent to the
 * client is spelled within that set: quotes become apostrophes, backslashes slashes, anything else outside
 * it a space. We follow the RFC here where Hydra does not (the conformance suite checks it).
 */
export function describableInRfc6749(description: string): string {
  return description
    .replace(/"/g, "'")
    .replace(/\\/g, '/')
    .replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, ' ');
}

export function deliverError(reply: FastifyReply, config: Config, to: Destination, error: HttpError): FastifyReply {
  const { error: code, error_description } = error.body(config.oauth2.expose_internal_errors);
  return deliver(reply, config, to, { error: code, error_description });
}

/** Errors that must not go to an unverified client: the configured error URL, or the built-in page. */
export function redirectToErrorPage(reply: FastifyReply, config: Config, error: HttpError): FastifyReply {
  const { error: code, error_description } = error.body(config.oauth2.expose_internal_errors);
  const base = config.urls.error || publicUrl(config, '/oauth2/fallbacks/error');
  const url = new URL(base);
  url.searchParams.set('error', code);
  url.searchParams.set('error_description', error_description);
  return reply.header('cache-control', 'no-store').redirect(url.toString(), 302);
}
