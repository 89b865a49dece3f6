const Database = require('better-sqlite3');
require('fs').copyFileSync('/tmp/jan-fresh.db', '/tmp/jan-x.db');
const db = new Database('/tmp/jan-x.db');
db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL'); db.pragma('foreign_keys = ON');
const now = Date.now();
const A = `"expires_at" > 0 and "expires_at" < ?`;
const B = `"active" = 0 and coalesce("used_at", "requested_at") < ?`;
const delA = db.prepare(`delete from "oauth2_tokens" where "signature" in (select "batch"."signature" from (select "signature" from "oauth2_tokens" where ${A} limit 100) as "batch")`);
console.log(db.prepare(`explain query plan select "signature" from "oauth2_tokens" where ${A} limit 100`).all(now).map(r=>r.detail));
const findB = db.prepare(`select signature from oauth2_tokens where ${B} and signature > ? order by signature limit 100`);
const delB = db.prepare(`delete from oauth2_tokens where signature in (${Array(100).fill('?').join(',')}) and ${B}`);
let total = 0, batches = 0;
const t = process.hrtime.bigint(); const c = process.cpuUsage();
while (true) { batches++; const r = delA.run(now); total += r.changes; if (r.changes < 100) break; }
const ta = Number(process.hrtime.bigint() - t) / 1e6; const totalA = total;
let after = '';
while (true) { batches++; const keys = findB.all(now, after).map((r) => r.signature); if (keys.length === 0) break; after = keys[keys.length - 1]; const n = keys.length; while (keys.length < 100) keys.push(''); total += delB.run(...keys, now).changes; if (n < 100) break; }
const cu = process.cpuUsage(c);
console.log('A', totalA, 'in', ta.toFixed(0), 'ms; total', total, 'in', batches, 'batches;', (Number(process.hrtime.bigint() - t) / 1e6 / total * 1e5).toFixed(0), 'ms wall per 100k,', ((cu.user + cu.system) / 1000 / total * 1e5).toFixed(0), 'ms CPU per 100k');
