import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * The stores every repository and API test runs against. PostgreSQL comes from PORTCULLIS_TEST_POSTGRES
 * (default: this machine's server); each store gets its own schema so runs never collide.
 */
export const POSTGRES_URL = process.env.PORTCULLIS_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestStore {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty data source. */
  create(): Promise<{ dsn: string; drop(): Promise<void> }>;
}

export const STORES: TestStore[] = [
  {
    name: 'sqlite',
    async create() {
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
      return { dsn: `sqlite://${join(dir, 'db.sqlite')}`, drop: async () => {} };
    },
  },
  {
    name: 'postgres',
    async create() {
      const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      try {
        await admin.query(`create schema ${schema}`);
      } finally {
        await admin.end();
      }
      const url = new URL(POSTGRES_URL);
      url.searchParams.set('search_path', schema);
      url.searchParams.set('max_conns', '4');
      return {
        dsn: url.toString(),
        drop: async () => {
          const client = new pg.Client({ connectionString: POSTGRES_URL });
          await client.connect();
          try {
            await client.query(`drop schema if exists ${schema} cascade`);
          } finally {
            await client.end();
          }
        },
      };
    },
  },
];
