import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { type ClientRequest, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import type { Tracing } from '../observability/tracing.js';

/**
 * Server-side HTTP fetches of URLs that clients registered (`jwks_uri`, `sector_identifier_uri`,
 * `backchannel_logout_uri`), guarded as the policy asks: when `disallowPrivateIpRanges` is set, a
 * URL whose host is, or resolves to, a private, loopback, link-local or otherwise non-public
 * address is refused, unless it is listed in `privateIpExceptionUrls`. The check runs on the
 * address actually connected to (in the socket's DNS lookup), so a name cannot resolve differently
 * between check and use. Redirects are not followed. Which policy applies to which client is
 * decided in `client/remote-checks.ts` (`outboundPolicy`).
 */
export interface OutboundPolicy {
  disallowPrivateIpRanges: boolean;
  privateIpExceptionUrls: readonly string[];
}

export interface FetchJsonOptions {
  timeoutMs?: number;
  maxBytes?: number;
  /** Record a client span and send its `traceparent` (the registry's tracing, when on). */
  tracing?: Tracing | undefined;
}

/** Any failure of an outbound request; the message is for logs and debug output only. */
export class OutboundError extends Error {
  override name = 'OutboundError';
}

/** The policy refused the target before anything was sent: retrying cannot help. */
export class RefusedTargetError extends OutboundError {
  override name = 'RefusedTargetError';
  readonly code = 'EPRIVATE';
}

/** The target answered, but its body is not JSON. */
export class NotJsonError extends OutboundError {
  override name = 'NotJsonError';
}

const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
/**
 * Non-public IPv6 networks, matched on the address's bytes (the same bytes the embedded-IPv4 forms
 * are decoded from, so that every textual form of an address is judged alike).
 */
const NON_PUBLIC_V6: ReadonlyArray<readonly [Uint8Array, number]> = (
  [
    // ::/96 (unspecified, loopback, the deprecated IPv4-compatible form), ::ffff:0:0:0/96 (SIIT's
    // IPv4-translated form) and 64:ff9b:1::/48 (local-use NAT64, whose embedding depends on the
    // operator's prefix length) are refused outright: nothing public needs them.
    ['::', 96],
    ['::ffff:0:0:0', 96],
    ['64:ff9b:1::', 48],
    ['100::', 64],
    // Teredo: the client's IPv4 address is obfuscated and the tunnel reaches wherever its relay
    // does; the protocol is obsolete, so the whole prefix is refused rather than decoded.
    ['2001::', 32],
    ['2001:2::', 48],
    ['2001:10::', 28],
    ['2001:20::', 28],
    ['2001:db8::', 32],
    ['3fff::', 20],
    ['5f00::', 16],
    ['fc00::', 7],
    ['fe80::', 10],
    ['fec0::', 10],
    ['ff00::', 8],
  ] as const
).map(([network, bits]) => [ipv6Bytes(network) as Uint8Array, bits] as const);

function inNetwork(bytes: Uint8Array, network: Uint8Array, bits: number): boolean {
  for (let bit = 0; bit < bits; bit += 8) {
    const mask = bits - bit >= 8 ? 0xff : (0xff << (8 - (bits - bit))) & 0xff;
    if (((bytes[bit / 8] as number) & mask) !== ((network[bit / 8] as number) & mask)) return false;
  }
  return true;
}

/**
 * True for addresses that are not on the public internet. IPv6 forms that carry an IPv4 address
 * the network delivers to are judged by that IPv4 address: IPv4-mapped (`::ffff:a.b.c.d`), NAT64's
 * well-known prefix (`64:ff9b::a.b.c.d`, RFC 6052, so IPv6-only deployments behind DNS64 still reach
 * public hosts) and 6to4 (`2002:aabb:ccdd::/48`, RFC 3056).
 */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return NON_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return true;
  const bytes = ipv6Bytes(address);
  if (!bytes) return true;
  const embedded = embeddedIpv4(bytes);
  if (embedded !== undefined) return NON_PUBLIC.check(embedded, 'ipv4');
  return NON_PUBLIC_V6.some(([network, bits]) => inNetwork(bytes, network, bits));
}

/** The IPv4 address an IPv4-mapped, NAT64 (well-known prefix) or 6to4 address stands for. */
function embeddedIpv4(bytes: Uint8Array): string | undefined {
  const startsWith = (prefix: number[]) => prefix.every((byte, index) => bytes[index] === byte);
  const quad = (offset: number) => Array.from(bytes.subarray(offset, offset + 4)).join('.');
  if (startsWith([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff])) return quad(12);
  if (startsWith([0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) return quad(12);
  if (startsWith([0x20, 0x02])) return quad(2);
  return undefined;
}

/** The 16 bytes of an IPv6 address in any textual form (`::`, embedded dotted quad); undefined if malformed. */
function ipv6Bytes(address: string): Uint8Array | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const words = (part: string | undefined) => (part ? part.split(':') : []);
  const head = words(halves[0]);
  const tail = words(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  const bytes = new Uint8Array(16);
  for (const [index, word] of all.entries()) {
    if (!/^[0-9a-f]{1,4}$/.test(word)) return undefined;
    const value = Number.parseInt(word, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  }
  return bytes;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A DNS lookup for sockets that fails when any address the name resolves to is not public. */
function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const refused = addresses.find((entry) => isNonPublicAddress(entry.address));
    if (refused) return callback(new RefusedTargetError(`${hostname} resolves to the non-public address ${refused.address}`), []);
    if (options.all) return callback(null, addresses);
    const first = addresses[0] as LookupAddress;
    return callback(null, first.address, first.family);
  });
}

/** A request about to be sent: the parsed URL, the guarded lookup if the policy asks for one, the sender. */
interface PreparedTarget {
  target: URL;
  lookup: Pick<RequestOptions, 'lookup'>;
  send: typeof httpRequest;
}

/** Parses and checks a URL against the policy; throws an OutboundError for URLs that are refused. */
function prepareTarget(url: string, policy: OutboundPolicy): PreparedTarget {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new OutboundError(`${url} is not a URL`);
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new OutboundError(`${url} is not an http(s) URL`);
  const guarded = policy.disallowPrivateIpRanges && !policy.privateIpExceptionUrls.includes(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  // Sockets skip the lookup for IP literals, so those are checked here.
  if (guarded && isIP(host) && isNonPublicAddress(host)) throw new RefusedTargetError(`${url} points to a non-public address`);
  return {
    target,
    lookup: guarded ? { lookup: guardedLookup as RequestOptions['lookup'] } : {},
    send: target.protocol === 'https:' ? httpsRequest : httpRequest,
  };
}

/** GETs a URL and parses its JSON body, within the policy, a timeout and a size limit. */
export async function fetchJson(url: string, policy: OutboundPolicy, options: FetchJsonOptions = {}): Promise<unknown> {
  return parseJsonAnswer(url, await fetchText(url, policy, 'application/json, application/jwk-set+json', options));
}

/** GETs a URL and returns its body as text (a request object at a `request_uri`), under fetchJson's rules. */
export async function fetchText(url: string, policy: OutboundPolicy, accept: string, options: FetchJsonOptions = {}): Promise<string> {
  return (await fetchResponse(url, policy, accept, options)).body;
}

/** A 200 answer: its headers (as Node gives them, names in lower case) and its body as text. */
export interface FetchedResponse {
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * GETs a URL under fetchJson's rules (the policy, one deadline, a size limit, redirects and any other
 * status than 200 refused) and returns the answer's headers with its body, for callers that read
 * its content type or caching headers (client ID metadata documents).
 */
export async function fetchResponse(
  url: string,
  policy: OutboundPolicy,
  accept: string,
  options: FetchJsonOptions = {},
): Promise<FetchedResponse> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? 1_048_576;
  // Refused and malformed URLs reject the returned promise (the function is async).
  const prepared = prepareTarget(url, policy);
  const { target, send } = prepared;
  const headers: Record<string, string> = { accept };
  const span = outboundSpan(options.tracing, 'GET', target, headers);
  const requestOptions: RequestOptions = { method: 'GET', headers, ...prepared.lookup };
  const answer = new Promise<FetchedResponse>((resolve, reject) => {
    const request = send(target, requestOptions, (response: IncomingMessage) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new OutboundError(`${url} answered ${response.statusCode}`));
        return;
      }
      readBody(url, request, response, maxBytes).then((body) => resolve({ headers: response.headers, body }), reject);
    });
    // One deadline for the whole exchange, so a slow trickle of bytes cannot hold the request open.
    const timer = setTimeout(() => request.destroy(new OutboundError(`${url} did not answer within ${timeoutMs} ms`)), timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', reject);
    if (span) recordStatus(span, request);
    request.end();
  });
  return span ? endWhenSettled(span, answer) : answer;
}

export interface SendOptions {
  timeoutMs?: number;
  /** Record a client span and send its `traceparent` (the registry's tracing, when on). */
  tracing?: Tracing | undefined;
}

/**
 * POSTs an `application/x-www-form-urlencoded` body to a URL within the policy and a timeout (as
 * back-channel logout does); see `sendRequest`.
 */
export function postForm(url: string, policy: OutboundPolicy, form: Record<string, string>, options: SendOptions = {}): Promise<number> {
  const body = Buffer.from(new URLSearchParams(form).toString(), 'utf8');
  return sendRequest(url, policy, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }, options);
}

/**
 * Sends one request within the policy and a timeout, and resolves with the status code as soon as
 * it arrives, whatever it is (the body is drained and ignored). Rejects with an OutboundError on
 * refused targets, network errors and timeouts.
 */
export async function sendRequest(
  url: string,
  policy: OutboundPolicy,
  request: { method: string; headers?: Readonly<Record<string, string>>; body?: Buffer },
  options: SendOptions = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 5000;
  // Refused and malformed URLs reject the returned promise (the function is async).
  const prepared = prepareTarget(url, policy);
  const { target, send } = prepared;
  const headers: Record<string, string> = { accept: '*/*', ...request.headers };
  if (request.body) headers['content-length'] = String(request.body.length);
  const span = outboundSpan(options.tracing, request.method, target, headers);
  const requestOptions: RequestOptions = { method: request.method, headers, ...prepared.lookup };
  const status = new Promise<number>((resolve, reject) => {
    const outgoing = send(target, requestOptions, (response: IncomingMessage) => {
      // The status is the answer; the body is drained (still within the deadline) and ignored.
      resolve(response.statusCode ?? 0);
      response.on('error', () => {});
      response.resume();
    });
    const timer = setTimeout(() => outgoing.destroy(new OutboundError(`${url} did not answer within ${timeoutMs} ms`)), timeoutMs);
    outgoing.on('close', () => clearTimeout(timer));
    outgoing.on('error', (error) => reject(error instanceof OutboundError ? error : new OutboundError(`${url}: ${error.message}`)));
    if (span) recordStatus(span, outgoing);
    outgoing.end(request.body);
  });
  return span ? endWhenSettled(span, status) : status;
}

/**
 * A response's body as text, at most `maxBytes`: beyond that the promise rejects with an
 * OutboundError and the request is destroyed. (Destroying it with the error instead let the
 * response end empty first, so an oversize answer resolved as an empty body, and the error then
 * surfaced as an uncaught exception.)
 */
function readBody(url: string, request: ClientRequest, response: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    response.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > maxBytes) {
        settled = true;
        reject(new OutboundError(`${url} answered more than ${maxBytes} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    response.on('end', () => {
      if (!settled) resolve(Buffer.concat(chunks).toString('utf8'));
      settled = true;
    });
    response.on('error', (error) => {
      if (!settled) reject(error instanceof OutboundError ? error : new OutboundError(`${url}: ${error.message}`));
      settled = true;
    });
  });
}

/** A response's body parsed as JSON; a NotJsonError when it is not JSON. */
async function readJsonBody(url: string, request: ClientRequest, response: IncomingMessage, maxBytes: number): Promise<unknown> {
  return parseJsonAnswer(url, await readBody(url, request, response, maxBytes));
}

function parseJsonAnswer(url: string, body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new NotJsonError(`${url} did not answer JSON`);
  }
}

export interface PostJsonOptions extends SendOptions {
  maxBytes?: number;
  /** Extra request headers (an API key, a cookie). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * POSTs a JSON body within the policy, a timeout and a size limit (as the token hooks do), and
 * resolves with the status and, for a 200, the parsed JSON answer (other bodies are drained and
 * ignored). Rejects with an OutboundError on refused targets, network errors, timeouts and a 200
 * whose body is not JSON.
 */
export async function postJson(
  url: string,
  policy: OutboundPolicy,
  payload: unknown,
  options: PostJsonOptions = {},
): Promise<{ status: number; body?: unknown }> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? 1_048_576;
  const prepared = prepareTarget(url, policy);
  const { target, send } = prepared;
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const headers: Record<string, string> = {
    accept: 'application/json',
    ...options.headers,
    'content-type': 'application/json; charset=UTF-8',
    'content-length': String(body.length),
  };
  const span = outboundSpan(options.tracing, 'POST', target, headers);
  const requestOptions: RequestOptions = { method: 'POST', headers, ...prepared.lookup };
  const answer = new Promise<{ status: number; body?: unknown }>((resolve, reject) => {
    const outgoing = send(target, requestOptions, (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      if (status !== 200) {
        response.on('error', () => {});
        response.resume();
        resolve({ status });
        return;
      }
      readJsonBody(url, outgoing, response, maxBytes).then((parsed) => resolve({ status, body: parsed }), reject);
    });
    const timer = setTimeout(() => outgoing.destroy(new OutboundError(`${url} did not answer within ${timeoutMs} ms`)), timeoutMs);
    outgoing.on('close', () => clearTimeout(timer));
    outgoing.on('error', (error) => reject(error instanceof OutboundError ? error : new OutboundError(`${url}: ${error.message}`)));
    if (span) recordStatus(span, outgoing);
    outgoing.end(body);
  });
  return span ? endWhenSettled(span, answer) : answer;
}

/**
 * A client span for a request about to be sent, its W3C `traceparent` added to the request's
 * headers so that the target can continue the trace; undefined when tracing is off. The span names
 * the URL without its query string, which may carry credentials.
 */
function outboundSpan(tracing: Tracing | undefined, method: string, target: URL, headers: Record<string, string>): Span | undefined {
  if (!tracing) return undefined;
  const port = target.port === '' ? (target.protocol === 'https:' ? 443 : 80) : Number(target.port);
  const span = tracing.startSpan(method, {
    kind: SpanKind.CLIENT,
    attributes: {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_SERVER_ADDRESS]: target.hostname,
      [ATTR_SERVER_PORT]: port,
      [ATTR_URL_FULL]: `${target.origin}${target.pathname}`,
    },
  });
  tracing.propagate(span, headers);
  return span;
}

function recordStatus(span: Span, request: ClientRequest): void {
  request.once('response', (response: IncomingMessage) => {
    const status = response.statusCode ?? 0;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (status >= 400) span.setAttributes({ [ATTR_ERROR_TYPE]: String(status) }).setStatus({ code: SpanStatusCode.ERROR });
  });
}

/** Ends the span when the request's outcome is known; a failure marks it with the error's name (refused, timeout, …). */
function endWhenSettled<T>(span: Span, outcome: Promise<T>): Promise<T> {
  return outcome.then(
    (value) => {
      span.end();
      return value;
    },
    (error: unknown) => {
      span.setAttribute(ATTR_ERROR_TYPE, error instanceof Error ? error.name : 'unknown').setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      throw error;
    },
  );
}
