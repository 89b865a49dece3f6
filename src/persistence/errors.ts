/** True when a write failed on a primary-key or unique constraint, in any dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (
    code === '23505' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    // MySQL/MariaDB (mysql2): 1062.
    code === 'ER_DUP_ENTRY'
  );
}

/**
 * True when the database ended a transaction to break a deadlock (MySQL/MariaDB 1213, PostgreSQL
 * 40P01): nothing of it was written, and running it again is safe. InnoDB takes next-key locks for
 * a delete and an insert's duplicate check, so two delete-then-insert transactions on one key can
 * deadlock where PostgreSQL makes the second wait.
 */
export function isDeadlock(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ER_LOCK_DEADLOCK' || code === '40P01';
}

// MySQL/MariaDB (mysql2) error codes, for the classification of store errors.
/** A foreign key refused a write (1452: the referenced row is gone; 1451: a row still refers to it). */
export const MYSQL_FOREIGN_KEY_CODES: ReadonlySet<string> = new Set(['ER_NO_REFERENCED_ROW_2', 'ER_ROW_IS_REFERENCED_2']);
/** The table does not exist (1146): the store was never migrated. */
export const MYSQL_NO_SUCH_TABLE = 'ER_NO_SUCH_TABLE';
/**
 * A value the column cannot hold (too long 1406, bad string 1366, out of range 1264, bad value 1292),
 * refused by strict mode: it came from the request, as PostgreSQL's data exceptions (class 22) do.
 */
export const MYSQL_DATA_CODES: ReadonlySet<string> = new Set([
  'ER_DATA_TOO_LONG',
  'ER_TRUNCATED_WRONG_VALUE_FOR_FIELD',
  'ER_WARN_DATA_OUT_OF_RANGE',
  'ER_TRUNCATED_WRONG_VALUE',
]);

/**
 * What a failed query says about the request rather than the server:
 * - `missing-table`: the store was never migrated (`migrate sql up` fixes it);
 * - `foreign-key`: a row the write refers to (a client, a consent) was deleted meanwhile;
 * - `invalid-data`: the input cannot be stored (PostgreSQL class 22: NUL bytes, bad encodings, out-of-range values;
 *   MySQL's strict-mode refusals, e.g. a value longer than its column).
 * Undefined for anything else.
 */
export type DatabaseErrorKind = 'missing-table' | 'foreign-key' | 'invalid-data';

export function databaseErrorKind(error: unknown): DatabaseErrorKind | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code === '42P01' || code === MYSQL_NO_SUCH_TABLE || (typeof message === 'string' && /no such table/i.test(message)))
    return 'missing-table';
  if (code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || (typeof code === 'string' && MYSQL_FOREIGN_KEY_CODES.has(code)))
    return 'foreign-key';
  if (typeof code === 'string' && (/^22[0-9A-Z]{3}$/.test(code) || MYSQL_DATA_CODES.has(code))) return 'invalid-data';
  return undefined;
}
