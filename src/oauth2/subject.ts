import { createHash } from 'node:crypto';
import type { OAuth2Client } from '../client/model.js';
import type { Config } from '../config/schema.js';
import { InvalidRequestError } from '../http/errors.js';

/**
 * The subject a client sees when it differs from the real one: a forced identifier from the login
 * app, else a pairwise identifier for `subject_type: pairwise` clients (OIDC Core §8.1), computed as
 * Hydra does: hex(sha256(sector host + subject + salt)). Hydra turns pairwise off for JWT access
 * tokens; ID tokens and userinfo still use it.
 *
 * A pairwise client without a sector (redirect URIs on several hosts and no `sector_identifier_uri`,
 * stored before registration refused that, or no redirect URI at all) gets `invalid_request`, as in
 * Hydra: any one host chosen as its sector would hand it the pairwise subjects of that host's clients.
 */
export function obfuscatedSubject(config: Config, client: OAuth2Client, subject: string, forced: string): string | undefined {
  if (forced) return forced;
  if (client.subject_type !== 'pairwise') return undefined;
  const sector = sectorIdentifier(client);
  if (sector === undefined) {
    throw new InvalidRequestError(
      `OAuth 2.0 Client ${client.client_id} uses pairwise subjects, but its redirect_uris span several hosts (or none) and it has no sector_identifier_uri. Please reconfigure the OAuth 2.0 client.`,
    );
  }
  return createHash('sha256').update(`${sector}${subject}${config.oidc.subject_identifiers.pairwise.salt}`).digest('hex');
}

/**
 * The sector identifier of a client (OIDC Core §8.1): the host of its `sector_identifier_uri`, else the
 * one host all its redirect URIs share; undefined when they span several hosts or there are none.
 */
export function sectorIdentifier(client: Pick<OAuth2Client, 'sector_identifier_uri' | 'redirect_uris'>): string | undefined {
  if (client.sector_identifier_uri) return hostOf(client.sector_identifier_uri);
  const hosts = new Set(client.redirect_uris.map(hostOf));
  return hosts.size === 1 ? (hosts.values().next().value as string) : undefined;
}

function hostOf(uri: string): string {
  try {
    return new URL(uri).host;
  } catch {
    return '';
  }
}
