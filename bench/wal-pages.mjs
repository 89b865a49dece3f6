// How much one token insert writes to SQLite's WAL, independent of machine noise: inserts 50,000
// client_credentials tokens in groups of 25 (as the group commit of W1 writes them) into a freshly
// migrated database, and counts the WAL pages and the time spent inside SQLite per token. Compares
// random request ids with time-ordered ones, and a full index on consent_id with the partial one
// (migration 0005).
//
//   npm run build && node bench/wal-pages.mjs
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { timeOrderedUuid } from '../dist/crypto/random.js';
import { ROOT } from './lib/servers.mjs';

const GROUPS = 2000;
const GROUP_SIZE = 25;
const VARIANTS = [
  { label: 'random request ids, full consent_id index', requestId: () => randomUUID(), partial: false },
  { label: 'time-ordered request ids, full consent_id index', requestId: () => timeOrderedUuid(), partial: false },
  { label: 'time-ordered request ids, partial consent_id index', requestId: () => timeOrderedUuid(), partial: true },
];

/** A row for a table with every NOT NULL column without a default filled in, then `values`. */
function insertFilled(db, table, values) {
  const row = {};
  for (const column of db.prepare(`pragma table_info(${table})`).all()) {
    if (column.notnull && column.dflt_value === null) row[column.name] = /int|big/i.test(column.type) ? 0 : '{}';
  }
  Object.assign(row, values);
  const names = Object.keys(row);
  db.prepare(`insert into ${table} (${names.join(',')}) values (${names.map(() => '?').join(',')})`).run(...Object.values(row));
}

for (const { label, requestId, partial } of VARIANTS) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-wal-'));
  try {
    const file = join(dir, 'db.sqlite');
    execFileSync(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'migrate', 'sql', 'up', `sqlite://${file}`], { stdio: 'ignore' });
    const db = new SQLite(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    if (!partial) db.exec('drop index oauth2_tokens_consent_idx; create index oauth2_tokens_consent_idx on oauth2_tokens (consent_id)');
    insertFilled(db, 'clients', { id: 'bench' });
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('wal_autocheckpoint = 0');
    let pages = 0;
    let nanoseconds = 0n;
    for (let group = 0; group < GROUPS; group++) {
      const now = Date.now();
      const rows = Array.from({ length: GROUP_SIZE }, () => [
        randomBytes(32).toString('hex'),
        'access_token',
        requestId(),
        'bench',
        null,
        'bench',
        '["read"]',
        '[]',
        '{"grantType":"client_credentials","ext":{}}',
        now,
        now + 3_600_000,
      ]);
      const insert = db.prepare(
        `insert into oauth2_tokens (signature, kind, request_id, client_id, consent_id, subject, scope, audience, session, requested_at, expires_at) values ${rows.map(() => '(?,?,?,?,?,?,?,?,?,?,?)').join(',')}`,
      );
      const started = process.hrtime.bigint();
      insert.run(...rows.flat());
      nanoseconds += process.hrtime.bigint() - started;
      if (group % 100 === 99) {
        pages += db.pragma('wal_checkpoint(PASSIVE)')[0].log;
        db.pragma('wal_checkpoint(TRUNCATE)');
      }
    }
    db.close();
    const tokens = GROUPS * GROUP_SIZE;
    console.log(
      `${label.padEnd(52)} ${(pages / tokens).toFixed(2)} WAL pages, ${(Number(nanoseconds) / 1000 / tokens).toFixed(1)} µs in SQLite per token`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
