import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Config } from '../config/schema.js';
import { InvalidClientMetadataError } from '../http/errors.js';
import { fetchJson, isNonPublicAddress, type OutboundPolicy } from '../http/outbound.js';
import type { Tracing } from '../observability/tracing.js';
import type { OAuth2Client } from './model.js';

/**
 * The checks of a client's metadata that need the network, run after `normalizeClient` on every
 * create and replace (admin API and dynamic registration alike, as Hydra's validator does):
 *
 * - under the client's outbound policy (`outboundPolicy`: Hydra's `clients.http.disallow_private_ip_ranges`
 *   for everyone, and always for self-registered clients unless the admin opted in), every URL the
 *   server itself will fetch (`jwks_uri`, `backchannel_logout_uri`, `request_uris`,
 *   `sector_identifier_uri`) must resolve only to public addresses, unless listed in
 *   `clients.http.private_ip_exception_urls`;
 * - a `sector_identifier_uri` is fetched (a JSON array of URIs, at most 5 MiB) and must list every
 *   redirect URI (OpenID Connect Core 1.0 §8.1, Registration 1.0 §5).
 *
 * Failures are `invalid_client_metadata` naming the field at fault. Why an address was refused
 * (unresolvable, or private) is not told apart, so that registration cannot map internal DNS.
 */
export interface RemoteCheckOptions {
  config: Config;
  /** The client is (being) registered through dynamic registration, not by the admin. */
  selfRegistered?: boolean;
  /** Every address a host name resolves to (default: the system resolver); replaceable in tests. */
  resolve?: (hostname: string) => Promise<string[]>;
  /** Traces the `sector_identifier_uri` fetch. */
  tracing?: Tracing | undefined;
}

const SECTOR_MAX_BYTES = 5 * 1024 * 1024;
const SECTOR_TIMEOUT_MS = 5000;

export async function checkRemoteMetadata(client: OAuth2Client, options: RemoteCheckOptions): Promise<void> {
  const policy = outboundPolicy(options.config, { selfRegistered: options.selfRegistered === true });
  if (policy.disallowPrivateIpRanges) await refuseNonPublicTargets(client, policy, options.resolve ?? resolveAll);
  if (client.sector_identifier_uri) await checkSectorIdentifier(client, policy, options.tracing);
}

/** Who chose a client's fetch targets: the admin, or an (often anonymous) dynamic registrant. */
export interface ClientOrigin {
  selfRegistered?: boolean;
}

/**
 * The rule for the server's own requests to a client's URLs, at registration and at fetch time
 * alike. Admin-created clients get Hydra's meaning of `clients.http.disallow_private_ip_ranges`
 * (default off). Self-registered clients are always held to it unless the admin opted in with
 * `oidc.dynamic_client_registration.allow_private_ip_ranges`: with Hydra's default anyone who can
 * register could otherwise make the server GET and POST internal URLs. Exception URLs apply to both.
 */
export function outboundPolicy(config: Config, origin: ClientOrigin): OutboundPolicy {
  const selfRegisteredGuard = origin.selfRegistered === true && !config.oidc.dynamic_client_registration.allow_private_ip_ranges;
  return {
    disallowPrivateIpRanges: config.clients.http.disallow_private_ip_ranges || selfRegisteredGuard,
    privateIpExceptionUrls: config.clients.http.private_ip_exception_urls,
  };
}

async function resolveAll(hostname: string): Promise<string[]> {
  return (await lookup(hostname, { all: true, verbatim: true })).map((entry) => entry.address);
}

/** The URLs of a client that the server fetches itself, with the field each comes from. */
function serverFetchedUrls(client: OAuth2Client): Array<[string, string]> {
  const urls: Array<[string, string]> = [
    ['jwks_uri', client.jwks_uri],
    ['backchannel_logout_uri', client.backchannel_logout_uri],
    ['sector_identifier_uri', client.sector_identifier_uri],
    ...client.request_uris.map((uri): [string, string] => ['request_uris', uri]),
  ];
  return urls.filter(([, url]) => url !== '');
}

async function refuseNonPublicTargets(
  client: OAuth2Client,
  policy: OutboundPolicy,
  resolve: (hostname: string) => Promise<string[]>,
): Promise<void> {
  const checks = serverFetchedUrls(client)
    .filter(([, url]) => !policy.privateIpExceptionUrls.includes(url))
    .map(async ([field, url]) => {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      const refused = new InvalidClientMetadataError(
        `The host of ${field} "${url}" cannot be resolved to a public address: this server does not fetch from private, loopback or link-local addresses.`,
      );
      let addresses: string[];
      try {
        addresses = isIP(host) ? [host] : await resolve(host);
      } catch {
        throw refused;
      }
      // A name that resolves to nothing is refused too: there is nothing public to reach.
      if (addresses.length === 0 || addresses.some((address) => isNonPublicAddress(address))) throw refused;
    });
  const results = await Promise.allSettled(checks);
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}

async function checkSectorIdentifier(client: OAuth2Client, policy: OutboundPolicy, tracing: Tracing | undefined): Promise<void> {
  const uri = client.sector_identifier_uri;
  // Unreachable, an error status, not JSON, not an array of strings, empty: one answer for all, so
  // that the registrant cannot tell them apart (the reason goes to the debug text only).
  const unusable = (reason: string) =>
    new InvalidClientMetadataError(`The sector_identifier_uri "${uri}" could not be fetched as a non-empty JSON array of URIs.`, reason);
  let listed: unknown;
  try {
    listed = await fetchJson(uri, policy, { maxBytes: SECTOR_MAX_BYTES, timeoutMs: SECTOR_TIMEOUT_MS, tracing });
  } catch (error) {
    throw unusable((error as Error).message);
  }
  if (!Array.isArray(listed) || listed.some((item) => typeof item !== 'string')) throw unusable('The answer is not an array of strings.');
  if (listed.length === 0) throw unusable('The array is empty.');
  const missing = client.redirect_uris.find((redirect) => !listed.includes(redirect));
  if (missing !== undefined) {
    throw new InvalidClientMetadataError(`Redirect URI "${missing}" is not listed in the JSON array at sector_identifier_uri "${uri}".`);
  }
}
