import { type ColumnDataType, type ColumnDefinitionBuilder, type CreateTableBuilder, type Expression, type Kysely, sql } from 'kysely';

type DataTypeExpression = ColumnDataType | Expression<unknown>;

import type { Dialect } from '../database.js';

/**
 * What the schema needs to say differently for MySQL (and MariaDB), so that SQLite and PostgreSQL
 * get exactly the schema they always had:
 * - `text` cannot be a primary, unique or foreign key there, nor be indexed without a prefix length:
 *   keys are `varchar(n)`, sized for what they hold (documented in docs/storage.md);
 * - `text` holds only 64 KB there: documents are `longtext`;
 * - a `longtext` default must be written as an expression;
 * - every table is InnoDB in utf8mb4 with a binary, no-pad collation, so that ids, tokens and
 *   secrets compare byte for byte (`abc` ≠ `ABC`, `abc` ≠ `abc `) as in the other stores.
 */
export interface SchemaTypes {
  /** A column that is (part of) a key or index: at most `chars` characters in MySQL. */
  key(chars: number): DataTypeExpression;
  /** Unbounded text. */
  readonly text: DataTypeExpression;
  /** A default for a `text` column. */
  textDefault(value: string): string | Expression<unknown>;
}

/** Lengths of key columns in MySQL: Hydra's own limits where it has them (ids: 255). */
export const KEY_CHARS = {
  id: 255,
  subject: 512,
  kind: 32,
  email: 320,
  hash: 128,
} as const;

/** Characters of a free-text column that a MySQL index covers (the rest is compared in the row). */
const INDEX_PREFIX_CHARS = 255;

export function schemaTypes(dialect: Dialect): SchemaTypes {
  if (dialect !== 'mysql') return { key: () => 'text', text: 'text', textDefault: (value) => value };
  return {
    key: (chars) => `varchar(${chars})`,
    text: sql`longtext`,
    textDefault: (value) => sql`(${sql.lit(value)})`,
  };
}

/**
 * Creates a table; in MySQL with the storage options above. The collation is MySQL 8's
 * `utf8mb4_0900_bin` or MariaDB's `utf8mb4_nopad_bin`, whichever the server has (`utf8mb4_bin`
 * pads: it would find a client `abc` when asked for `abc `).
 */
export async function createTable(
  db: Kysely<unknown>,
  dialect: Dialect,
  name: string,
  define: (table: CreateTableBuilder<string, never>) => CreateTableBuilder<string, string>,
): Promise<void> {
  const table = define(db.schema.createTable(name));
  if (dialect !== 'mysql') return table.execute();
  const collation = await binaryCollation(db);
  await table.modifyEnd(sql`engine = InnoDB default character set utf8mb4 collate ${sql.raw(collation)}`).execute();
}

async function binaryCollation(db: Kysely<unknown>): Promise<string> {
  const { rows } = await sql<{ name: string }>`
    select collation_name as name from information_schema.collations
    where collation_name in ('utf8mb4_0900_bin', 'utf8mb4_nopad_bin') order by collation_name`.execute(db);
  const name = rows[0]?.name;
  if (!name) throw new Error('MySQL: the server has no binary no-pad utf8mb4 collation (MySQL 8.0+ or MariaDB 10.2+ is needed)');
  return name;
}

/**
 * Foreign keys cascading on delete. SQLite and PostgreSQL keep theirs inline on the column, as they
 * always had them; MySQL before 8.4 ignores an inline REFERENCES, so there each is a named table
 * constraint instead (`cascadeConstraint`), and the column stays plain.
 */
export function inlineCascade(dialect: Dialect, column: ColumnDefinitionBuilder, references: string): ColumnDefinitionBuilder {
  return dialect === 'mysql' ? column : column.references(references).onDelete('cascade');
}

export function cascadeConstraint<T extends CreateTableBuilder<string, string>>(
  dialect: Dialect,
  table: T,
  name: string,
  column: string,
  references: string,
): T {
  if (dialect !== 'mysql') return table;
  const [target, targetColumn] = references.split('.') as [string, string];
  return table.addForeignKeyConstraint(name, [column], target, [targetColumn], (fk) => fk.onDelete('cascade')) as T;
}

/** An index over a free-text column: in MySQL over its first INDEX_PREFIX_CHARS characters. */
export async function createTextIndex(db: Kysely<unknown>, dialect: Dialect, name: string, table: string, column: string): Promise<void> {
  if (dialect !== 'mysql') return db.schema.createIndex(name).on(table).column(column).execute();
  await sql`create index ${sql.id(name)} on ${sql.id(table)} (${sql.id(column)}(${sql.raw(String(INDEX_PREFIX_CHARS))}))`.execute(db);
}

/** Drops an index; MySQL names indexes per table. */
export async function dropIndex(db: Kysely<unknown>, dialect: Dialect, name: string, table: string): Promise<void> {
  const drop = db.schema.dropIndex(name);
  await (dialect === 'mysql' ? drop.on(table) : drop).execute();
}
