import type { Config } from '../config/schema.js';
import { Keyring } from '../crypto/keyring.js';
import { BadRequestError } from '../http/errors.js';

const PAGE_TOKEN_PURPOSE = 'admin-page-token';

/**
 * The `page_token` of the admin client list: the last id of a page, sealed (AES-GCM) with `secrets.pagination`
 * (default: `secrets.system`) as Hydra encrypts its page tokens, so that a caller can neither read nor forge
 * where a page starts. The first secret seals, every one opens, so the secrets rotate as `secrets.system` does.
 */
export class PageTokens {
  private readonly keyring: Keyring;

  constructor(config: Pick<Config, 'secrets'>, systemKeyring: Keyring) {
    const { pagination } = config.secrets;
    this.keyring = pagination.length > 0 ? new Keyring(pagination) : systemKeyring;
  }

  encode(lastId: string): string {
    return this.keyring.sealCompact(PAGE_TOKEN_PURPOSE, Buffer.from(JSON.stringify({ after: lastId })));
  }

  /** The id a page token says to continue after; a token not sealed by these secrets is a 400. */
  decode(token: string): string {
    const opened = this.keyring.openCompact(PAGE_TOKEN_PURPOSE, token);
    if (opened) {
      try {
        const { after } = JSON.parse(opened.toString('utf8')) as { after?: unknown };
        if (typeof after === 'string') return after;
      } catch {
        // fall through
      }
    }
    throw new BadRequestError('The page_token is not valid; use the one from the Link header.');
  }
}

/** The path and query of a list's page of `pageSize` entries: the first page without a token. */
export function pageLink(url: string, pageSize: number, pageToken: string | undefined): string {
  const parsed = new URL(url, 'http://placeholder');
  parsed.searchParams.set('page_size', String(pageSize));
  if (pageToken) parsed.searchParams.set('page_token', pageToken);
  else parsed.searchParams.delete('page_token');
  return `${parsed.pathname}${parsed.search}`;
}
