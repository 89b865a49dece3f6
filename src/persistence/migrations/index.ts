import { m0001Init } from './0001-init.js';
import { m0002OAuth2 } from './0002-oauth2.js';
import { m0003Users } from './0003-users.js';
import { m0004TokenFamilyIndex } from './0004-token-family-index.js';
import { m0005ConsentIndexPartial } from './0005-consent-index-partial.js';
import { m0006ClientOrigin } from './0006-client-origin.js';
import { m0007ClientRotatedSecrets } from './0007-client-rotated-secrets.js';
import { m0008JwtBearerTrusts } from './0008-jwt-bearer-trusts.js';
import { m0009DeviceCodes } from './0009-device-codes.js';
import { m0010PushedAuthorizationRequests } from './0010-pushed-authorization-requests.js';
import type { VersionedMigration } from './migration.js';

/** Every migration, oldest first. Append only. */
export const MIGRATIONS: readonly VersionedMigration[] = [
  m0001Init,
  m0002OAuth2,
  m0003Users,
  m0004TokenFamilyIndex,
  m0005ConsentIndexPartial,
  m0006ClientOrigin,
  m0007ClientRotatedSecrets,
  m0008JwtBearerTrusts,
  m0009DeviceCodes,
  m0010PushedAuthorizationRequests,
];
