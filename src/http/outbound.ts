import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';

/**
 * Server-side HTTP fetches of URLs that clients registered (`jwks_uri`, and later sector identifier
 * and logout URIs), guarded as `clients.http.disallow_private_ip_ranges` asks: when set, a URL whose
 * host is, or resolves to, a private, loopback, link-local or otherwise non-public address is
 * refused, unless it is listed in `clients.http.private_ip_exception_urls`. The check runs on the
 * address actually connected to (in the socket's DNS lookup), so a name cannot resolve differently
 * between check and use. Redirects are not followed.
 */
export interface OutboundPolicy {
  disallowPrivateIpRanges: boolean;
  privateIpExceptionUrls: readonly string[];
}

export interface FetchJsonOptions {
  timeoutMs?: number;
  maxBytes?: number;
}

export class OutboundError extends Error {
  override name = 'OutboundError';
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
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/** True for addresses that are not on the public internet (IPv4-mapped IPv6 checked as IPv4). */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return NON_PUBLIC.check(address, 'ipv4');
  if (family !== 6) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return NON_PUBLIC.check(mapped[1] as string, 'ipv4');
  return NON_PUBLIC.check(address, 'ipv6');
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A DNS lookup for sockets that fails when any address the name resolves to is not public. */
function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const refused = addresses.find((entry) => isNonPublicAddress(entry.address));
    if (refused) {
      return callback(
        Object.assign(new OutboundError(`${hostname} resolves to the non-public address ${refused.address}`), { code: 'EPRIVATE' }),
        [],
      );
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0] as LookupAddress;
    return callback(null, first.address, first.family);
  });
}

/** GETs a URL and parses its JSON body, within the policy, a timeout and a size limit. */
export function fetchJson(url: string, policy: OutboundPolicy, options: FetchJsonOptions = {}): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? 1_048_576;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new OutboundError(`${url} is not a URL`));
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') return Promise.reject(new OutboundError(`${url} is not an http(s) URL`));
  const guarded = policy.disallowPrivateIpRanges && !policy.privateIpExceptionUrls.includes(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  // Sockets skip the lookup for IP literals, so those are checked here.
  if (guarded && isIP(host) && isNonPublicAddress(host)) return Promise.reject(new OutboundError(`${url} points to a non-public address`));
  const requestOptions: RequestOptions = {
    method: 'GET',
    headers: { accept: 'application/json, application/jwk-set+json' },
    ...(guarded ? { lookup: guardedLookup as RequestOptions['lookup'] } : {}),
  };
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(target, requestOptions, (response: IncomingMessage) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new OutboundError(`${url} answered ${response.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          request.destroy(new OutboundError(`${url} answered more than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new OutboundError(`${url} did not answer JSON`));
        }
      });
      response.on('error', reject);
    });
    // One deadline for the whole exchange, so a slow trickle of bytes cannot hold the request open.
    const timer = setTimeout(() => request.destroy(new OutboundError(`${url} did not answer within ${timeoutMs} ms`)), timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', reject);
    request.end();
  });
}

export interface PostFormOptions {
  timeoutMs?: number;
}

/**
 * POSTs an `application/x-www-form-urlencoded` body to a URL within the policy and a timeout (as
 * back-channel logout does), and resolves with the status code as soon as it arrives, whatever it
 * is (the body is drained and ignored). Rejects with an OutboundError on refused targets, network
 * errors and timeouts.
 */
export function postForm(
  url: string,
  policy: OutboundPolicy,
  form: Record<string, string>,
  options: PostFormOptions = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 5000;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new OutboundError(`${url} is not a URL`));
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') return Promise.reject(new OutboundError(`${url} is not an http(s) URL`));
  const guarded = policy.disallowPrivateIpRanges && !policy.privateIpExceptionUrls.includes(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (guarded && isIP(host) && isNonPublicAddress(host)) return Promise.reject(new OutboundError(`${url} points to a non-public address`));
  const body = Buffer.from(new URLSearchParams(form).toString(), 'utf8');
  const requestOptions: RequestOptions = {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length), accept: '*/*' },
    ...(guarded ? { lookup: guardedLookup as RequestOptions['lookup'] } : {}),
  };
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = send(target, requestOptions, (response: IncomingMessage) => {
      // The status is the answer; the body is drained (still within the deadline) and ignored.
      resolve(response.statusCode ?? 0);
      response.on('error', () => {});
      response.resume();
    });
    const timer = setTimeout(() => request.destroy(new OutboundError(`${url} did not answer within ${timeoutMs} ms`)), timeoutMs);
    request.on('close', () => clearTimeout(timer));
    request.on('error', (error) => reject(error instanceof OutboundError ? error : new OutboundError(`${url}: ${error.message}`)));
    request.end(body);
  });
}
