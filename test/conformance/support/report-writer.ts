/**
 * The reporter of `npm run docs:conformance`: collects every conformance test's outcome on every store
 * and writes docs/conformance.md (report.ts). It refuses to write a partial report: every plan's file
 * must have run.
 */
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import { PLANS } from './catalogue.js';
import { parseTestName, REPORT_PATH, renderReport, rowsOf, type TestOutcome } from './report.js';

export default class ConformanceReportWriter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const outcomes: TestOutcome[] = [];
    for (const module of modules) {
      const file = relative(process.cwd(), module.moduleId);
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        const warning = (test.meta() as { warning?: string }).warning;
        outcomes.push({
          file,
          fullName: test.fullName,
          verdict: state === 'passed' ? 'pass' : state === 'failed' ? 'failed' : 'skipped',
          ...(warning ? { warning } : {}),
        });
      }
    }
    const ran = new Set(outcomes.map((outcome) => outcome.file));
    const missing = PLANS.filter((plan) => !ran.has(plan.file)).map((plan) => plan.file);
    if (missing.length) {
      process.stderr.write(`\nconformance report not written: these plan files did not run: ${missing.join(', ')}\n`);
      return;
    }
    const stores = [...new Set(outcomes.map((outcome) => parseTestName(outcome.fullName)?.store).filter(Boolean) as string[])].sort();
    writeFileSync(REPORT_PATH, renderReport(rowsOf(outcomes), stores));
    process.stdout.write(`\nwrote ${REPORT_PATH}\n`);
  }
}
