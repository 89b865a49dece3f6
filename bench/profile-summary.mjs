// Summarises a V8 CPU profile written by `node --cpu-prof` (e.g. from `node bench/run.mjs --profile`):
// the functions with the most self time, and the source files (ours and dependencies) with the most.
//
//   node bench/profile-summary.mjs bench/profiles/CPU.*.cpuprofile [--top 30]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });
const top = Number(values.top);

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  // Sample intervals: timeDeltas[i] is the time before samples[i].
  profile.samples.forEach((id, index) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  const total = [...self.values()].reduce((sum, value) => sum + value, 0);
  const functions = new Map();
  const files = new Map();
  for (const [id, micros] of self) {
    const { callFrame } = byId.get(id);
    const where = callFrame.url
      .replace(/^file:\/\//, '')
      .replace(/^.*\/node_modules\//, 'node_modules/')
      .replace(/^.*\/dist\//, 'dist/');
    const name = `${callFrame.functionName || '(anonymous)'} ${where ? `${where}:${callFrame.lineNumber + 1}` : ''}`.trim();
    functions.set(name, (functions.get(name) ?? 0) + micros);
    const group = where ? where.replace(/^(node_modules\/(@[^/]+\/)?[^/]+).*$/, '$1') : `(${callFrame.functionName || 'native'})`;
    files.set(group, (files.get(group) ?? 0) + micros);
  }
  const show = (title, map) => {
    console.log(`\n${title}`);
    for (const [name, micros] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${((100 * micros) / total).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}`);
    }
  };
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`);
  show('self time by function', functions);
  show('self time by file or package', files);
}
