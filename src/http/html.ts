import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * Text a request brought, ready to show on a page: one string (a repeated parameter shows its first
 * value), cut to `max` characters so a page never echoes more than it means to, then HTML-escaped.
 */
export function requestText(value: unknown, max: number): string {
  const text = Array.isArray(value) ? value[0] : value;
  if (typeof text !== 'string') return '';
  return escapeHtml(text.length > max ? `${text.slice(0, max)}…` : text);
}

/**
 * Sends a small HTML page with headers that keep it from being framed, sniffed or cached, and a CSP
 * allowing only the page's own inline script (when it has one, by nonce) and frames from the given
 * origins (none unless listed: the front-channel logout page lists its clients').
 */
export function sendHtml(
  reply: FastifyReply,
  title: string,
  body: (nonce: string) => string,
  status = 200,
  frameOrigins: readonly string[] = [],
): FastifyReply {
  // Straight from the OS: one page per flow at most, so the registry's pool would save nothing here.
  const nonce = randomBytes(16).toString('base64');
  const frameSrc = frameOrigins.length > 0 ? `; frame-src ${[...new Set(frameOrigins)].join(' ')}` : '';
  return withPageHeaders(
    reply.status(status),
    `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'${frameSrc}`,
  ).send(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>` +
      '<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1d2430}code{background:#eef1f5;padding:.1rem .3rem;border-radius:3px}</style>' +
      `</head><body>${body(nonce)}</body></html>`,
  );
}

/** The headers every HTML page of ours carries: never framed, sniffed into another type, cached or referred. */
export function withPageHeaders(reply: FastifyReply, contentSecurityPolicy: string): FastifyReply {
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('content-security-policy', contentSecurityPolicy);
}
