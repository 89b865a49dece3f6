import { createHash } from 'node:crypto';
import type { OAuth2Client } from '../client/model.js';
import type { Config } from '../config/schema.js';

/**
 * The subject a client sees when it differs from the real one: a forced identifier from the login
 * app, else a pairwise identifier for `subject_type: pairwise` clients (OIDC Core §8.1), computed as
 * Hydra does: hex(sha256(sector host + subject + salt)). Hydra turns pairwise off for JWT access
 * tokens; ID tokens and userinfo still use it.
 */
export function obfuscatedSubject(config: Config, client: OAuth2Client, subject: string, forced: string): string | undefined {
  if (forced) return forced;
  if (client.subject_type !== 'pairwise') return undefined;
  const sector = sectorHost(client);
  return createHash('sha256').update(`${sector}${subject}${config.oidc.subject_identifiers.pairwise.salt}`).digest('hex');
}

function sectorHost(client: OAuth2Client): string {
  const source = client.sector_identifier_uri || client.redirect_uris[0] || '';
  try {
    return new URL(source).host;
  } catch {
    return '';
  }
}
