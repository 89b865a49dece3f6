import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';
import { dropIndex } from './columns.js';
import type { VersionedMigration } from './migration.js';

/**
 * Revoking a token family (refresh rotation revokes the family's access tokens; reuse and consent
 * revocation revoke all of it) looks up the family's *active* tokens. With an index on `request_id`
 * alone, each rotation visited every token the family ever had, so a long-lived family made each
 * refresh slower than the last. Led by `request_id`, this index serves every lookup the old one did.
 */
export const m0004TokenFamilyIndex: VersionedMigration = {
  name: '0004-token-family-index',
  async up(db: Kysely<unknown>, dialect: Dialect) {
    await db.schema.createIndex('oauth2_tokens_family_idx').on('oauth2_tokens').columns(['request_id', 'kind', 'active']).execute();
    await dropIndex(db, dialect, 'oauth2_tokens_request_idx', 'oauth2_tokens');
  },
  async down(db: Kysely<unknown>, dialect: Dialect) {
    await db.schema.createIndex('oauth2_tokens_request_idx').on('oauth2_tokens').column('request_id').execute();
    await dropIndex(db, dialect, 'oauth2_tokens_family_idx', 'oauth2_tokens');
  },
};
