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

/**
 * Inserts each of `rows` into `table` unless a live row has its key: a row whose `expiryColumn` is
 * at or before `now` counts as absent and is taken over (its other columns replaced by the new
 * row's). One answer per row, in order: true when the row is now the new one (inserted, or an expired
 * one replaced); a key that appears twice in `rows` can be taken by its first row only. SQLite and
 * PostgreSQL do it in one statement (`on conflict … do update … where` the old row expired: a live
 * row is left untouched and not returned by `returning`); two nodes racing for one key get one true
 * between them, as the conflict locks the row. MySQL cannot tell an insert from an untouched row by
 * its count (mysql2 asks for found rows) and has no `returning`, so there each row is inserted alone
 * and only a duplicate key is followed by an update of the expired row, which again one statement wins.
 */
export async function insertUnlessLive<DB, TB extends keyof DB & string>(
  db: Kysely<DB>,
  table: TB,
  rows: ReadonlyArray<{ readonly [C in keyof DB[TB] & string]: string | number }>,
  keyColumn: keyof DB[TB] & string,
  expiryColumn: keyof DB[TB] & string,
  now: number,
): Promise<boolean[]> {
  // Column names as data, so the builder is untyped here; the signature ties them to the table.
  const untyped = db as Executor;
  const name: string = table;
  const key: string = keyColumn;
  const expiry: string = expiryColumn;
  const firstOfKey = new Map<unknown, Record<string, string | number>>();
  for (const row of rows) if (!firstOfKey.has(row[keyColumn])) firstOfKey.set(row[keyColumn], row);
  const distinct = [...firstOfKey.values()];
  const [sample] = distinct;
  if (sample === undefined) return [];
  const replaced = Object.keys(sample).filter((column) => column !== key);
  const taken = new Set<unknown>();
  if (speaksMysql(untyped)) {
    const outcomes = await Promise.all(distinct.map((row) => insertUnlessLiveMysql(untyped, name, row, key, expiry, replaced, now)));
    distinct.forEach((row, index) => {
      if (outcomes[index]) taken.add(row[key]);
    });
  } else {
    const returned = await untyped
      .insertInto(name)
      .values(distinct)
      .onConflict((oc) =>
        oc
          .column(key)
          .doUpdateSet(Object.fromEntries(replaced.map((column) => [column, sql.ref(`excluded.${column}`)])))
          .where(sql.ref(`${name}.${expiry}`), '<=', now),
      )
      .returning(key)
      .execute();
    for (const row of returned) taken.add((row as Record<string, unknown>)[key]);
  }
  return rows.map((row) => firstOfKey.get(row[keyColumn]) === row && taken.has(row[keyColumn]));
}

async function insertUnlessLiveMysql(
  db: Executor,
  table: string,
  row: Record<string, string | number>,
  key: string,
  expiry: string,
  replaced: string[],
  now: number,
): Promise<boolean> {
  try {
    await db.insertInto(table).values(row).executeTakeFirstOrThrow();
    return true;
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
  }
  const update = await db
    .updateTable(table)
    .set(Object.fromEntries(replaced.map((column) => [column, row[column]])))
    .where(key, '=', row[key])
    .where(expiry, '<=', now)
    .executeTakeFirst();
  return Number(update.numUpdatedRows) > 0;
}
