import type { OAuth2Client } from '../client/model.js';
import { effectiveGrantTypes } from '../client/model.js';

/** Hydra issues refresh tokens only for `offline`/`offline_access` grants of clients allowed the refresh grant. */
export function wantsRefreshToken(client: OAuth2Client, scope: string[]): boolean {
  return (scope.includes('offline') || scope.includes('offline_access')) && effectiveGrantTypes(client).includes('refresh_token');
}

export function wantsIdToken(scope: string[]): boolean {
  return scope.includes('openid');
}
