import { type InsertQueryBuilder, type InsertResult, type Kysely, sql, type UpdateObject } from 'kysely';
import { isUniqueViolation } from './errors.js';

// biome-ignore lint/suspicious/noExplicitAny: any database's executor will do.
type Executor = Kysely<any>;

/**
 * True when `db` speaks MySQL (or MariaDB). Kysely offers no public way to ask which dialect an
 * executor (or a transaction) has; how it quotes an identifier tells: backticks only in MySQL.
 * Compiling that one identifier costs about a microsecond, so nothing is cached.
 */
export function speaksMysql(db: Executor): boolean {
  return sql`${sql.id('x')}`.compile(db).sql === '`x`';
}

/**
 * Inserts a row, or updates the row it collides with on `conflictColumns`: `on conflict … do update`
 * in SQLite and PostgreSQL, `on duplicate key update` in MySQL (which takes whichever unique key
 * collides: the tables upserted into have no unique key but the one named).
 */
export function upsert<DB, TB extends keyof DB & string, O>(
  db: Executor,
  insert: InsertQueryBuilder<DB, TB, O>,
  conflictColumns: ReadonlyArray<keyof DB[TB] & string>,
  set: UpdateObject<DB, TB, TB>,
): InsertQueryBuilder<DB, TB, O> {
  if (speaksMysql(db)) return insert.onDuplicateKeyUpdate(set);
  // biome-ignore lint/suspicious/noExplicitAny: the same columns, as Kysely types an ON CONFLICT target.
  return insert.onConflict((oc) => oc.columns(conflictColumns as any).doUpdateSet(set as any));
}

/**
 * Inserts a row unless one with its key exists; true when it inserted. MySQL has no `do nothing`:
 * `insert ignore` would also turn a foreign-key or strict-mode error into a warning (and store a
 * truncated value), so there the duplicate key error is caught instead. A failed statement does
 * not end a MySQL transaction, as it would a PostgreSQL one.
 */
export async function insertIfAbsent<DB, TB extends keyof DB & string>(
  db: Executor,
  insert: InsertQueryBuilder<DB, TB, InsertResult>,
  keyColumn: keyof DB[TB] & string,
): Promise<boolean> {
  let result: InsertResult;
  if (speaksMysql(db)) {
    try {
      result = await insert.executeTakeFirstOrThrow();
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  } else {
    // biome-ignore lint/suspicious/noExplicitAny: the same column, as Kysely types an ON CONFLICT target.
    result = await insert.onConflict((oc) => oc.column(keyColumn as any).doNothing()).executeTakeFirstOrThrow();
  }
  return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
}
