/** True when a write failed on a primary-key or unique constraint, in either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/**
 * What a failed query says about the request rather than the server:
 * - `missing-table`: the store was never migrated (`migrate sql up` fixes it);
 * - `foreign-key`: a row the write refers to (a client, a consent) was deleted meanwhile;
 * - `invalid-data`: the input cannot be stored (PostgreSQL class 22: NUL bytes, bad encodings, out-of-range values).
 * Undefined for anything else.
 */
export type DatabaseErrorKind = 'missing-table' | 'foreign-key' | 'invalid-data';

export function databaseErrorKind(error: unknown): DatabaseErrorKind | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (code === '42P01' || (typeof message === 'string' && /no such table/i.test(message))) return 'missing-table';
  if (code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreign-key';
  if (typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code)) return 'invalid-data';
  return undefined;
}
