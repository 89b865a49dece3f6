import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';
import { m0001Init } from './0001-init.js';
import { m0002OAuth2 } from './0002-oauth2.js';
import { m0003Users } from './0003-users.js';
import { m0004TokenFamilyIndex } from './0004-token-family-index.js';
import { m0005ConsentIndexPartial } from './0005-consent-index-partial.js';
import { m0006ClientOrigin } from './0006-client-origin.js';

export interface VersionedMigration {
  /** Sortable and never renamed: it is what the migration table records. */
  readonly name: string;
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
  down(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
}

/** Every migration, oldest first. Append only. */
export const MIGRATIONS: readonly VersionedMigration[] = [
  m0001Init,
  m0002OAuth2,
  m0003Users,
  m0004TokenFamilyIndex,
  m0005ConsentIndexPartial,
  m0006ClientOrigin,
];
