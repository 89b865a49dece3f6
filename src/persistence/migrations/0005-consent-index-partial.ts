import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.js';
import type { VersionedMigration } from './migration.js';

/**
 * Tokens issued without a consent (client credentials) have no `consent_id`, and no lookup ever asks
 * for those: consent revocation and the consent's cascade look tokens up by a given consent id. An
 * index over non-null values only spares each such insert one index write (both stores use a
 * partial index for `consent_id = …`, which implies `consent_id is not null`). MySQL has no partial
 * indexes, and its foreign key on `consent_id` needs the full one: there this migration changes nothing.
 */
export const m0005ConsentIndexPartial: VersionedMigration = {
  name: '0005-consent-index-partial',
  async up(db: Kysely<unknown>, dialect: Dialect) {
    if (dialect === 'mysql') return;
    await db.schema.dropIndex('oauth2_tokens_consent_idx').execute();
    await db.schema
      .createIndex('oauth2_tokens_consent_idx')
      .on('oauth2_tokens')
      .column('consent_id')
      .where(sql.ref('consent_id'), 'is not', null)
      .execute();
  },
  async down(db: Kysely<unknown>, dialect: Dialect) {
    if (dialect === 'mysql') return;
    await db.schema.dropIndex('oauth2_tokens_consent_idx').execute();
    await db.schema.createIndex('oauth2_tokens_consent_idx').on('oauth2_tokens').column('consent_id').execute();
  },
};
