/**
 * docs/conformance.md against the tests and the catalogue: every module of every plan and variant has a
 * row, every row names a test that exists (listed by vitest, on every store), every conformance test has
 * a row, and no row failed. The report itself is written by `npm run docs:conformance`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STORES } from '../support/stores.js';
import { PLANS } from './support/catalogue.js';
import { parseReport, parseTestName, REPORT_PATH } from './support/report.js';

interface Listed {
  name: string;
  file: string;
}

describe('the conformance report (docs/conformance.md)', () => {
  const rows = parseReport(readFileSync(REPORT_PATH, 'utf8'));
  const key = (plan: string, variant: string, module: string, test?: string) => [plan, variant, module, test ?? ''].join(' | ');

  it('has a row for every module of every plan and variant', () => {
    const covered = new Set(rows.map((row) => key(row.plan, row.variant, row.module)));
    const missing = PLANS.flatMap((plan) =>
      plan.variants.flatMap((variant) => plan.modules.map((module) => key(plan.id, variant, module.id)).filter((k) => !covered.has(k))),
    );
    expect(missing).toEqual([]);
  });

  it('names only modules of the catalogue, and none failed', () => {
    const known = new Set(
      PLANS.flatMap((plan) => plan.variants.flatMap((variant) => plan.modules.map((module) => key(plan.id, variant, module.id)))),
    );
    expect(rows.filter((row) => !known.has(key(row.plan, row.variant, row.module)))).toEqual([]);
    expect(rows.filter((row) => row.result.includes('FAILED'))).toEqual([]);
    expect(rows.filter((row) => row.result.startsWith('skipped') && /no reason given/.test(row.result))).toEqual([]);
  });

  it('matches the tests: every row has a test on every store, every test has a row', { timeout: 120_000 }, () => {
    const listed = JSON.parse(
      execFileSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'list', 'test/conformance/', '--json'], {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      }),
    ) as Listed[];
    const tests = new Map<string, Set<string>>();
    const unconventional: string[] = [];
    for (const test of listed) {
      const file = relative(process.cwd(), test.file);
      const plan = PLANS.find((entry) => entry.file === file);
      if (!plan) continue;
      const parsed = parseTestName(test.name);
      if (!parsed || !plan.variants.includes(parsed.variant)) {
        unconventional.push(test.name);
        continue;
      }
      const k = key(plan.id, parsed.variant, parsed.module, parsed.title);
      tests.set(k, (tests.get(k) ?? new Set()).add(parsed.store));
    }
    expect(unconventional, 'tests in plan files named "<plan title> [<variant>] (<store>) > <module id>: …"').toEqual([]);
    const rowKeys = new Set(rows.map((row) => key(row.plan, row.variant, row.module, row.test)));
    expect(
      [...tests.keys()].filter((k) => !rowKeys.has(k)),
      'tests without a row (run npm run docs:conformance)',
    ).toEqual([]);
    expect(
      [...rowKeys].filter((k) => !tests.has(k)),
      'rows without a test',
    ).toEqual([]);
    const everyStore = STORES.map((store) => store.name).sort();
    expect(
      [...tests].filter(([, stores]) => [...stores].sort().join() !== everyStore.join()).map(([k]) => k),
      'tests not run on every store',
    ).toEqual([]);
  });
});
