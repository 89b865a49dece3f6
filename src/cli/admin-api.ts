/**
 * The CLI's HTTP client, with Hydra's client flags (ory/x cmdx): `-e/--endpoint` (else ORY_SDK_URL),
 * `-H/--http-header` (repeatable) and `--skip-tls-verify`.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Command } from 'commander';
import { withOutputFlags } from './output.js';

export class CliError extends Error {
  override name = 'CliError';
}

export interface EndpointFlag {
  endpoint?: string;
  httpHeader?: string[];
  skipTlsVerify?: boolean;
}

export const ADMIN_HELP = 'admin API URL (default: ORY_SDK_URL, PORTCULLIS_ADMIN_URL or http://127.0.0.1:4445)';
export const PUBLIC_HELP = 'public API URL (default: PORTCULLIS_PUBLIC_URL, ORY_SDK_URL or http://127.0.0.1:4444)';

/** Repeatable flags: each occurrence adds one value. */
const repeat = (value: string, previous: string[] = []) => [...previous, value];

/** `-e/--endpoint`, `-H/--http-header`, `--skip-tls-verify`, `--format` and `-q/--quiet`, as Hydra's remote commands have them. */
export function withHttpFlags(command: Command, endpointHelp: string): Command {
  return withOutputFlags(
    command
      .option('-e, --endpoint <url>', endpointHelp)
      .option('-H, --http-header <header>', 'an HTTP header sent with every request, as "Name: value" (repeatable)', repeat)
      .option('--skip-tls-verify', 'do not verify TLS certificates (self-signed test servers only; never in production)'),
  );
}

const trimmed = (url: string) => url.replace(/\/+$/, '');

export function adminEndpoint(flags: EndpointFlag): string {
  return trimmed(flags.endpoint ?? process.env.ORY_SDK_URL ?? process.env.PORTCULLIS_ADMIN_URL ?? 'http://127.0.0.1:4445');
}

/** The public listener; PORTCULLIS_PUBLIC_URL first, as it names that listener only. */
export function publicEndpoint(flags: EndpointFlag): string {
  return trimmed(flags.endpoint ?? process.env.PORTCULLIS_PUBLIC_URL ?? process.env.ORY_SDK_URL ?? 'http://127.0.0.1:4444');
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The `-H` headers; each must be `Name: value`. */
export function extraHeaders(flags: EndpointFlag): Array<[string, string]> {
  return (flags.httpHeader ?? []).map((header) => {
    const colon = header.indexOf(':');
    const name = header.slice(0, colon).trim();
    const value = header.slice(colon + 1).trim();
    if (colon < 0 || !HEADER_NAME.test(name) || /[\r\n\0]/.test(value)) {
      throw new CliError(`--http-header must look like "Name: value", got ${JSON.stringify(header)}`);
    }
    return [name, value];
  });
}

export interface RequestInit {
  method: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Answer {
  status: number;
  text: string;
  headers: IncomingHttpHeaders;
}

/** One HTTP exchange with node:http(s): fetch cannot skip certificate checks without a dispatcher package. */
function exchange(url: URL, init: RequestInit, headers: Array<[string, string]>, insecure: boolean): Promise<Answer> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return Promise.reject(new CliError(`not an http(s) URL: ${url}`));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: init.method, headers: Object.fromEntries(headers), rejectUnauthorized: !insecure },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('error', reject);
        response.once('end', () =>
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: response.headers }),
        );
      },
    );
    outgoing.once('error', reject);
    outgoing.end(init.body);
  });
}

/**
 * One HTTP call of a CLI command: the response text, or a CliError naming the call and the server's
 * OAuth error (or the network failure) in one line.
 */
export async function send(flags: EndpointFlag, url: string, init: RequestInit, label: string, where = url): Promise<string> {
  return (await exchangeChecked(flags, url, init, label, where)).text;
}

/** `send`, keeping the response headers (a list's `Link`). */
async function exchangeChecked(flags: EndpointFlag, url: string, init: RequestInit, label: string, where: string): Promise<Answer> {
  const answer = await sendForAnswer(flags, url, init, where);
  if (answer.status < 200 || answer.status > 299) {
    let detail = answer.text;
    try {
      const parsed = JSON.parse(answer.text) as { error?: string; error_description?: string };
      detail = [parsed.error, parsed.error_description].filter(Boolean).join(': ');
    } catch {
      // not JSON: show as is
    }
    throw new CliError(`${label} failed with ${answer.status}: ${detail}`);
  }
  return answer;
}

/**
 * One HTTP call whatever status it is answered with (a caller that reads error answers itself, as a
 * device polling the token endpoint does); a CliError only when the server cannot be reached.
 */
export async function sendForAnswer(flags: EndpointFlag, url: string, init: RequestInit, where = url): Promise<Answer> {
  // Keyed by lower-case name, so a `-H` header replaces the command's own (e.g. Authorization).
  const merged = new Map<string, [string, string]>();
  for (const [name, value] of [['accept', 'application/json'], ...Object.entries(init.headers ?? {}), ...extraHeaders(flags)] as const) {
    merged.set(name.toLowerCase(), [name, value]);
  }
  if (init.body !== undefined) merged.set('content-length', ['content-length', String(Buffer.byteLength(init.body))]);
  const headers = [...merged.values()];
  let answer: Answer;
  try {
    const target = URL.canParse(url) ? new URL(url) : undefined;
    if (!target) throw new CliError(`not a URL: ${url}`);
    answer = await exchange(target, init, headers, flags.skipTlsVerify === true);
  } catch (error) {
    if (error instanceof CliError) throw error;
    // When every address of a host refused, the error is an AggregateError with an empty message.
    const failure = error as Error & { code?: string };
    throw new CliError(`cannot reach ${where}: ${failure.message || failure.code || String(error)}`);
  }
  return answer;
}

/** `Authorization: Bearer $PORTCULLIS_ADMIN_API_KEY` when set (`serve.admin.auth.api_keys` on the server). */
export function adminAuthHeaders(): Record<string, string> {
  const key = process.env.PORTCULLIS_ADMIN_API_KEY;
  return key ? { authorization: `Bearer ${key}` } : {};
}

export async function callAdmin<T>(flags: EndpointFlag, method: string, path: string, body?: unknown): Promise<T> {
  return (await callAdminWithHeaders<T>(flags, method, path, body)).value;
}

/** `callAdmin`, with the response headers. */
export async function callAdminWithHeaders<T>(
  flags: EndpointFlag,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ value: T; headers: IncomingHttpHeaders }> {
  const url = `${adminEndpoint(flags)}${path}`;
  const headers = { ...adminAuthHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  const init = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
  const answer = await exchangeChecked(flags, url, init, `${method} ${path}`, `the admin API at ${url}`);
  return { value: (answer.text ? JSON.parse(answer.text) : undefined) as T, headers: answer.headers };
}

/**
 * The `page_token` of a `Link: <…>; rel="next"` header, as Hydra's CLI reads it; empty on the last
 * page. A malformed header counts as no next page.
 */
export function nextPageToken(link: string | string[] | undefined): string {
  for (const entry of [link ?? []].flat().flatMap((header) => header.split(','))) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(entry);
    if (!match || !/;\s*rel="?next"?\s*(;|$)/i.test(match[2] ?? '')) continue;
    const target = URL.canParse(match[1] ?? '', 'http://link.invalid') ? new URL(match[1] ?? '', 'http://link.invalid') : undefined;
    const token = target?.searchParams.get('page_token');
    if (token) return token;
  }
  return '';
}
