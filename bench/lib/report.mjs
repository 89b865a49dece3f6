// The benchmark's outputs: the table on stdout, JSON and Markdown in bench/results/, an SVG chart in docs/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './servers.mjs';

export function median(values) {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const num = (value, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '–');
const ms = (value) => (Number.isFinite(value) ? value.toFixed(value < 10 ? 1 : 0) : '–');

/** The result table as rows of cells (shared by the console and Markdown). */
function tableRows(report) {
  const header = [
    'workload',
    'unit',
    'Portcullis',
    'p50 ms',
    'p99 ms',
    'errors',
    'cpu µs',
    'oidc-provider',
    'p50 ms',
    'p99 ms',
    'errors',
    'cpu µs',
    'ours/peer',
  ];
  const cpu = (value) => (Number.isFinite(value) ? (value * 1000).toFixed(0) : '–');
  const rows = report.results.map((row) => [
    `${row.id} ${row.title}`,
    row.unit ?? 'req/s',
    num(row.ours.rps),
    ms(row.ours.p50),
    ms(row.ours.p99),
    String(row.ours.errors),
    cpu(row.ours.cpuMs),
    row.peer ? num(row.peer.rps) : 'n/a',
    row.peer ? ms(row.peer.p50) : '',
    row.peer ? ms(row.peer.p99) : '',
    row.peer ? String(row.peer.errors) : '',
    row.peer ? cpu(row.peer.cpuMs) : '',
    row.ratio !== undefined ? `${row.ratio.toFixed(2)}×` : '',
  ]);
  return { header, rows };
}

/**
 * The cost beyond the signature as rows of cells: each server's CPU per request (W5: per flow) less
 * its RS256 signatures at the calibrated cost, and how many times more the peer spends on the rest.
 */
function beyondSignatureRows(report) {
  const header = ['workload', 'signatures', 'less µs', 'Portcullis cpu µs', 'beyond', 'oidc-provider cpu µs', 'beyond', 'peer/ours'];
  const rows = (report.beyondSignature ?? []).map((row) => [
    `${row.id} ${row.title}`,
    String(row.signatures),
    num(row.signedUs),
    num(row.ours + row.signedUs),
    num(row.ours),
    num(row.peer + row.signedUs),
    num(row.peer),
    `${row.ratio.toFixed(2)}×`,
  ]);
  return { header, rows };
}

/** A table for the console: columns padded, the first left-aligned. */
function consoleTable({ header, rows }) {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line), ''];
}

export function printTable(report) {
  const out = consoleTable(tableRows(report));
  const beyond = beyondSignatureRows(report);
  if (beyond.rows.length > 0) out.push(...consoleTable(beyond));
  for (const target of report.targets) out.push(`${target.holds ? 'holds ' : 'MISSED'}  ${target.target}: ${target.value}`);
  for (const [name, usage] of Object.entries(report.memory)) {
    if (!name.startsWith('portcullis')) out.push(`        ${name} RSS after the run: ${usage.rssMb} MB (peak ${usage.peakRssMb} MB)`);
  }
  const { floor } = report.machine;
  if (floor)
    out.push(
      `        floor (bare node:http, ${report.settings.connections} connections): ${num(floor.rps)} req/s, p50 ${ms(floor.p50)} ms, p99 ${ms(floor.p99)} ms`,
    );
  out.push(
    `        ${report.machine.cpus} × ${report.machine.cpuModel}, ${report.machine.memoryGb} GB, Node ${report.machine.node}; RS256 signature ${report.machine.rsaSignUs} µs CPU; ${Math.round(report.seconds)} s`,
  );
  process.stdout.write(`\n${out.join('\n')}\n`);
}

/** The body of a results page: machine and method, the table, the targets, memory (no title). */
function resultsBody(report) {
  const { header, rows } = tableRows(report);
  const { machine, settings } = report;
  return [
    `Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGb} GB memory, Node ${machine.node} (${machine.platform}); ` +
      `one RS256 signature with a 2048-bit key costs ${machine.rsaSignUs} µs of CPU here` +
      (machine.floor
        ? `; a bare node:http server answering a fixed JSON (the floor) reaches ${num(machine.floor.rps)} req/s, p50 ${ms(machine.floor.p50)} ms, p99 ${ms(machine.floor.p99)} ms under the same load. `
        : '. ') +
      `Each figure is the median of ${settings.runs} runs of ${settings.durationSeconds} s (after a ${settings.warmupSeconds} s warm-up per server), ` +
      `the servers alternating; ${settings.connections} connections (W5: ${settings.flowConcurrency} concurrent flows). ` +
      'Errors are summed over the runs. `cpu µs` is the CPU time the server process (all its threads) used per completed request, ' +
      'W5 per flow, read from /proc: unlike throughput, other load on the machine barely moves it. ' +
      (machine.load
        ? `The machine's one-minute load average was ${machine.load.start} when the run started and ${machine.load.end} when it ended. `
        : '') +
      `Generated by \`npm run bench\` on ${report.date.slice(0, 16).replace('T', ' ')} UTC in ${Math.round(report.seconds)} s.`,
    '',
    markdownTable(header, rows, 2),
    '',
    ...beyondSignatureMarkdown(report, machine),
    markdownTable(
      ['target (issues 6 and 17)', 'measured', 'holds'],
      report.targets.map((target) => [target.target, target.value, target.holds ? 'yes' : '**no**']),
      3,
    ),
    '',
    markdownTable(
      ['process', 'RSS after the run', 'peak RSS'],
      Object.entries(report.memory).map(([name, usage]) => [name, `${usage.rssMb} MB`, `${usage.peakRssMb} MB`]),
      1,
    ),
  ].join('\n');
}

/** The cost beyond the signature with what it means, or nothing when no workload that signs ran on both servers. */
function beyondSignatureMarkdown(report, machine) {
  const { header, rows } = beyondSignatureRows(report);
  if (rows.length === 0) return [];
  return [
    `What each server spends beyond its RS256 signatures: the \`cpu µs\` above less one calibrated signature (${machine.rsaSignUs} µs) ` +
      'for each one the request makes (W3: its JWT; W5: the ID token of each flow; W6: the ID token of each refresh; ' +
      'no other signature on either server). `peer/ours` is how many times more CPU the peer spends on the rest.',
    '',
    markdownTable(header, rows, 1),
    '',
  ];
}

/** A Markdown table, padded to column width; columns from `leftColumns` on are right-aligned. */
function markdownTable(header, rows, leftColumns) {
  const text = (cell) => String(cell).replace(/\|/g, '\\|');
  const cells = [header, ...rows].map((row) => row.map(text));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((row) => row[i].length)));
  const line = (row) => `| ${row.map((cell, i) => (i < leftColumns ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((width, i) => (i < leftColumns ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`)).join(' | ')} |`;
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

export function markdown(report) {
  return [`# Benchmark results${report.label ? `: ${report.label}` : ''} (${report.date.slice(0, 10)})`, '', resultsBody(report), ''].join(
    '\n',
  );
}

/** Every labelled step run (bench/results/steps/*.json), oldest label first. */
function readSteps() {
  const dir = join(ROOT, 'bench/results/steps');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')));
}

/** What each optimisation bought: one row per step, throughput (and ratio to the peer) and CPU per request. */
export function stepsMarkdown(steps) {
  if (steps.length === 0) return '_No step runs recorded (`node bench/run.mjs --label NAME`)._';
  const ids = [...new Set(steps.flatMap((step) => step.results.map((row) => row.id)))];
  const cell = (step, id, pick) => {
    const row = step.results.find((result) => result.id === id);
    return row ? pick(row) : '–';
  };
  const load = (step) => (step.machine.load ? `${step.machine.load.start} → ${step.machine.load.end}` : '–');
  const throughput = markdownTable(
    ['step', 'load', ...ids],
    steps.map((step) => [
      step.label,
      load(step),
      ...ids.map((id) => cell(step, id, (row) => `${num(row.ours.rps)}${row.ratio !== undefined ? ` (${row.ratio.toFixed(2)}×)` : ''}`)),
    ]),
    1,
  );
  const cpu = markdownTable(
    ['step', ...ids],
    steps.map((step) => [step.label, ...ids.map((id) => cell(step, id, (row) => num(row.ours.cpuMs * 1000)))]),
    1,
  );
  const { machine, settings } = steps[0];
  return [
    `Throughput of Portcullis (req/s, W5 flows/s) and, in brackets, its ratio to oidc-provider measured in the same run:`,
    '',
    throughput,
    '',
    'CPU time of the Portcullis process per request (µs; W5: per flow), the figure least moved by other load on the machine:',
    '',
    cpu,
    '',
    `Each step is one \`node bench/run.mjs --label …\` run (${settings.runs} runs of ${settings.durationSeconds} s per workload and server, medians) ` +
      `on ${machine.cpus} × ${machine.cpuModel}, one after the other, each adding one change to the one before; results in \`bench/results/steps/\`. ` +
      '`load` is the one-minute load average at the start and end of the step; the benchmark itself keeps about two cores busy, so anything above 2 is other work on the machine, which moves throughput most and the ratio and CPU columns less.',
  ].join('\n');
}

/** Replaces what lies between `<!-- name -->` and `<!-- /name -->` in a document. */
function replaceSection(text, name, body) {
  const open = `<!-- ${name} -->`;
  const close = `<!-- /${name} -->`;
  const from = text.indexOf(open);
  const to = text.indexOf(close);
  if (from === -1 || to < from) return text;
  return `${text.slice(0, from + open.length)}\n${body}\n${text.slice(to)}`;
}

/** Puts the latest results and the step table into docs/performance.md (between its markers). */
function updatePerformanceDoc(report) {
  const path = join(ROOT, 'docs/performance.md');
  if (!existsSync(path)) return;
  let text = readFileSync(path, 'utf8');
  if (report) text = replaceSection(text, 'bench:results', resultsBody(report));
  text = replaceSection(text, 'bench:steps', stepsMarkdown(readSteps()));
  writeFileSync(path, text);
}

/**
 * A horizontal bar chart: one group per workload, Portcullis and oidc-provider side by side, each
 * group scaled to its own largest value (workloads differ by orders of magnitude), values written on the bars.
 */
export function svgChart(report) {
  const rows = report.results;
  const labelWidth = 370;
  const barArea = 420;
  const barHeight = 16;
  const groupHeight = 2 * barHeight + 16;
  const top = 48;
  const width = labelWidth + barArea + 110;
  const height = top + rows.length * groupHeight + 34;
  const colors = { ours: '#2563eb', peer: '#9ca3af' };
  const esc = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="600">Portcullis vs oidc-provider: throughput (median of ${report.settings.runs} runs, ${report.date.slice(0, 10)})</text>`,
    `<rect x="12" y="32" width="10" height="10" fill="${colors.ours}"/><text x="26" y="41">Portcullis</text>`,
    `<rect x="100" y="32" width="10" height="10" fill="${colors.peer}"/><text x="114" y="41">oidc-provider (in memory)</text>`,
  ];
  rows.forEach((row, index) => {
    const y = top + index * groupHeight;
    const scale = Math.max(row.ours.rps, row.peer?.rps ?? 0) || 1;
    const unit = row.unit ?? 'req/s';
    parts.push(`<text x="12" y="${y + barHeight + 4}">${esc(`${row.id} ${row.title}`)}</text>`);
    if (row.ratio !== undefined)
      parts.push(`<text x="12" y="${y + 2 * barHeight + 4}" fill="#374151">${row.ratio.toFixed(2)}× the peer</text>`);
    const bars = [['ours', row.ours], ...(row.peer ? [['peer', row.peer]] : [])];
    bars.forEach(([who, value], i) => {
      const barWidth = Math.max(1, (value.rps / scale) * barArea);
      const by = y + i * (barHeight + 2);
      parts.push(`<rect x="${labelWidth}" y="${by}" width="${barWidth.toFixed(1)}" height="${barHeight}" fill="${colors[who]}"/>`);
      parts.push(`<text x="${(labelWidth + barWidth + 6).toFixed(1)}" y="${by + barHeight - 4}">${num(value.rps)} ${unit}</text>`);
    });
  });
  parts.push(
    `<text x="12" y="${height - 12}" fill="#6b7280">${esc(`${report.machine.cpus} × ${report.machine.cpuModel}, ${report.machine.memoryGb} GB; each workload scaled to its own maximum`)}</text>`,
    '</svg>',
    '',
  );
  return parts.join('\n');
}

/** Formats written files as the repository's formatter would (bench/ is checked by `npm run lint`). */
function format(paths) {
  try {
    execFileSync(join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', ...paths], { cwd: ROOT, stdio: 'ignore' });
  } catch {
    // Without the formatter the files are still complete; only their layout may differ.
  }
}

/** The latest full run (bench/results/latest.*, docs/performance.svg), or a labelled step (bench/results/steps/). */
export function writeResults(report, label) {
  if (label) {
    const dir = join(ROOT, 'bench/results/steps');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${label}.json`), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(dir, `${label}.md`), markdown(report));
    format([join(dir, `${label}.json`), join(dir, `${label}.md`)]);
    updatePerformanceDoc(undefined);
    process.stderr.write(`wrote bench/results/steps/${label}.json and .md\n`);
    return;
  }
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.md'), markdown(report));
  writeFileSync(join(ROOT, 'docs/performance.svg'), svgChart(report));
  format([join(dir, 'latest.json'), join(dir, 'latest.md')]);
  updatePerformanceDoc(report);
  process.stderr.write(
    'wrote bench/results/latest.json, bench/results/latest.md, docs/performance.svg and the tables of docs/performance.md\n',
  );
}
