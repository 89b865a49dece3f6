import type { Kysely } from 'kysely';
import type { Dialect } from '../database.js';

/** One schema change (in its own module so that migrations and their index do not import each other). */
export interface VersionedMigration {
  /** Sortable and never renamed: it is what the migration table records. */
  readonly name: string;
  up(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
  down(db: Kysely<unknown>, dialect: Dialect): Promise<void>;
}
