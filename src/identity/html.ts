import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { escapeHtml, withPageHeaders } from '../http/html.js';

/**
 * HTML for the identity UI: a tagged template that escapes every interpolated value unless it is
 * already `Html`, so text from clients and users (a client's name, a username) can never become markup,
 * and one function that sends a whole page with the security headers.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolation = Html | string | number | boolean | undefined | null | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === undefined || value === null || value === false || value === true) return '';
  return escapeHtml(String(value));
}

/** `html\`<p>${name}</p>\`` escapes `name`; nested `html` fragments and arrays of them are kept as markup. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? '');
  });
  return new Html(out);
}

/** The URL when it is an absolute http(s) URL (safe in `href` and `src`), else undefined. */
export function httpUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}

/* Contrast (WCAG 2.2 AA and better): body text 16:1, secondary text 6.8:1 or more, white on the accent 7.6:1, errors 6.9:1, field borders and the focus ring 3.7:1 and 5.1:1. */
const STYLESHEET = `
:root{--ink:#17202c;--muted:#4a5565;--line:#dde2e9;--field:#7b8594;--bg:#f2f4f7;--accent:#2446c2;--accent-dark:#1a3494;--danger:#a51c10;--danger-bg:#fef3f2;--focus:#c2410c}
*{box-sizing:border-box}
html{background:var(--bg)}
body{margin:0;min-height:100vh;display:flex;flex-direction:column;align-items:center;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink)}
.brand{width:100%;max-width:27rem;padding:2.5rem 1.25rem 1.25rem;display:flex;align-items:center;gap:.6rem;font-weight:650;font-size:1.05rem;letter-spacing:-.01em}
.mark{width:1.9rem;height:1.9rem;border-radius:.5rem;background:var(--accent);color:#fff;display:grid;place-items:center;font-size:1rem}
main{width:100%;max-width:27rem;padding:0 1.25rem 3rem}
.card{background:#fff;border:1px solid var(--line);border-radius:1rem;padding:2rem 1.75rem;box-shadow:0 1px 2px rgba(16,24,40,.05),0 12px 32px rgba(16,24,40,.07)}
h1{font-size:1.45rem;line-height:1.3;margin:0 0 .4rem;letter-spacing:-.015em}
h2{font-size:1rem;margin:1.5rem 0 .6rem}
p{margin:0 0 1rem}
.lede{color:var(--muted);margin-bottom:1.5rem}
.field{margin:0 0 1.1rem}
label{display:block;font-weight:600;font-size:.93rem;margin:0 0 .35rem}
input[type=text],input[type=password]{display:block;width:100%;font:inherit;padding:.65rem .8rem;border:1px solid var(--field);border-radius:.55rem;background:#fff;color:var(--ink)}
input[aria-invalid=true]{border-color:var(--danger)}
.check{display:flex;align-items:center;gap:.6rem;margin:0 0 1.5rem;font-weight:400}
.check input{width:1.15rem;height:1.15rem;margin:0;accent-color:var(--accent)}
.actions{display:flex;flex-direction:column;gap:.65rem}
button{font:inherit;font-weight:600;padding:.72rem 1rem;border-radius:.55rem;border:1px solid transparent;cursor:pointer;width:100%}
.primary{background:var(--accent);color:#fff}
.primary:hover{background:var(--accent-dark)}
.secondary{background:#fff;color:var(--ink);border-color:var(--field)}
.secondary:hover{background:var(--bg)}
:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
a{color:var(--accent)}
a:hover{color:var(--accent-dark)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;background:#eef1f5;padding:.05rem .3rem;border-radius:.25rem}
pre{font:.8rem/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--bg);border:1px solid var(--line);border-radius:.55rem;padding:.75rem .9rem;margin:0 0 1rem;white-space:pre-wrap;overflow-wrap:anywhere}
.alert{border:1px solid #f4a79d;background:var(--danger-bg);color:var(--danger);border-radius:.55rem;padding:.7rem .9rem;margin:0 0 1.25rem}
.client{display:flex;align-items:center;gap:1rem;margin:0 0 1.25rem}
.client img,.client .initial{flex:none;width:3.25rem;height:3.25rem;border-radius:.75rem;border:1px solid var(--line)}
.client img{object-fit:contain;background:#fff}
.client .initial{display:grid;place-items:center;background:#e8edfb;color:var(--accent-dark);font-weight:700;font-size:1.3rem}
.client h1{margin:0;font-size:1.25rem}
.who{font-size:.93rem;color:var(--muted);background:var(--bg);border-radius:.55rem;padding:.55rem .8rem}
.scopes{list-style:none;padding:0;margin:0 0 1.5rem;border:1px solid var(--line);border-radius:.7rem}
.scopes li{padding:.75rem .95rem}
.scopes li+li{border-top:1px solid var(--line)}
.scopes strong{display:block;font-weight:600}
.scopes span{display:block;color:var(--muted);font-size:.93rem}
.notice{font-size:.93rem;border:1px solid var(--line);border-left:4px solid var(--accent);border-radius:.55rem;padding:.55rem .8rem}
input.code{font:1.3rem/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;letter-spacing:.12em}
.fine{color:var(--muted);font-size:.88rem;margin:1.25rem 0 0}
footer{color:var(--muted);font-size:.85rem;text-align:center;margin-top:1.5rem}
`.trim();

/** The CSP allows exactly this stylesheet (by hash) and nothing else inline: no script runs on these pages. */
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLESHEET).digest('base64')}'`;

export interface Page {
  title: string;
  body: Html;
  status?: number;
  /** Origins images may come from (a client's logo); none by default. */
  imageOrigins?: readonly string[];
}

/**
 * Sends a whole page with the headers Portcullis' own pages carry (see http/html.ts): never framed,
 * sniffed or cached, no referrer, and a CSP that allows no script at all.
 */
export function sendPage(reply: FastifyReply, product: string, page: Page): FastifyReply {
  const images = page.imageOrigins && page.imageOrigins.length > 0 ? `; img-src ${[...new Set(page.imageOrigins)].join(' ')}` : '';
  const document = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${page.title} · ${product}</title>
<style>${new Html(STYLESHEET)}</style>
</head>
<body>
<header class="brand"><span class="mark" aria-hidden="true">${(Array.from(product)[0] ?? '').toUpperCase()}</span><span>${product}</span></header>
<main>
${page.body}
</main>
</body>
</html>
`;
  return withPageHeaders(
    reply.status(page.status ?? 200),
    // Forms may post to, and be redirected to, anywhere: a sign-in ends at the application's own callback.
    `default-src 'none'; style-src ${STYLE_HASH}; form-action *; frame-ancestors 'none'; base-uri 'none'${images}`,
  ).send(document.value);
}
