import { type MigrationResultSet, Migrator, sql } from 'kysely';
import type { Database } from './database.js';
import { MIGRATIONS } from './migrations/index.js';

export interface MigrationStatus {
  name: string;
  applied: boolean;
  appliedAt?: Date;
}

const TABLES = { migrationTableName: 'portcullis_migration', migrationLockTableName: 'portcullis_migration_lock' };

/**
 * Kysely looks for its migration tables in every schema unless told which one, so two deployments
 * (or test runs) sharing a PostgreSQL database in different schemas would see each other's tables.
 */
async function migrator(database: Database): Promise<Migrator> {
  let migrationTableSchema: string | undefined;
  if (database.dialect === 'postgres') {
    const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(database.db);
    migrationTableSchema = rows[0]?.schema;
  }
  return new Migrator({
    db: database.db,
    ...TABLES,
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
    provider: {
      getMigrations: async () =>
        Object.fromEntries(
          MIGRATIONS.map((m) => [m.name, { up: (db) => m.up(db, database.dialect), down: (db) => m.down(db, database.dialect) }]),
        ),
    },
  });
}

function check(result: MigrationResultSet): string[] {
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${(result.error as Error).message ?? String(result.error)}`);
  }
  return (result.results ?? []).map((r) => r.migrationName);
}

/** Applies every pending migration; returns the names applied. */
export async function migrateUp(database: Database): Promise<string[]> {
  return check(await (await migrator(database)).migrateToLatest());
}

/** Reverts the newest applied migration (`steps` times); returns the names reverted. */
export async function migrateDown(database: Database, steps = 1): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < steps; i++) {
    const reverted = check(await (await migrator(database)).migrateDown());
    if (reverted.length === 0) break;
    names.push(...reverted);
  }
  return names;
}

export async function migrationStatus(database: Database): Promise<MigrationStatus[]> {
  const list = await (await migrator(database)).getMigrations();
  return list.map((m) => ({ name: m.name, applied: m.executedAt !== undefined, ...(m.executedAt ? { appliedAt: m.executedAt } : {}) }));
}

/** Names of migrations not yet applied. */
export async function pendingMigrations(database: Database): Promise<string[]> {
  return (await migrationStatus(database)).filter((m) => !m.applied).map((m) => m.name);
}
