/**
 * No import cycle in src/ (issue 13 #1), type-only or not: a cycle means two modules cannot be read,
 * tested or moved one without the other. flow/ decides and oauth2/ mints, so flow/ imports nothing
 * that mints or stores tokens.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');

/** Specifiers of every static import, `import type`, `export … from`, side-effect and dynamic import. */
function importSpecifiers(text: string): string[] {
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1] as string));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** src/'s modules (paths relative to src/) and the src/ modules each imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const targets = importSpecifiers(readFileSync(file, 'utf8'))
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => resolve(dirname(file), specifier.replace(/\.js$/, '.ts')))
      .map((target) => relative(SRC, target).split('\\').join('/'));
    graph.set(relative(SRC, file).split('\\').join('/'), [...new Set(targets)]);
  }
  return graph;
}

/**
 * One cycle per strongly connected component of more than one module (or a module importing itself),
 * written `a → b → … → a` (Tarjan's algorithm, then a path back to the component's first module).
 */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node) as number);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, index.get(next) as number));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop() as string;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) components.push(component);
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return components.map((component) => cycleThrough(graph, new Set(component)));
}

/** A shortest path from the component's first module (sorted) back to itself, within the component. */
function cycleThrough(graph: ReadonlyMap<string, readonly string[]>, component: ReadonlySet<string>): string {
  const start = [...component].sort()[0] as string;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift() as string;
    for (const next of graph.get(node) ?? []) {
      if (!component.has(next)) continue;
      if (next === start) {
        const path = [node];
        while (path[0] !== start) path.unshift(previous.get(path[0] as string) as string);
        return [...path, start].join(' → ');
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return start;
}

/** What flow/ may not import: the modules that mint, sign or store tokens. */
const MINTING = ['oauth2/tokens.ts', 'oauth2/id-token.ts', 'oauth2/token-store.ts', 'oauth2/issue.ts'];

describe('import graph', () => {
  it('has no cycle', () => {
    expect(importCycles(importGraph())).toEqual([]);
  });

  it('flow/ imports nothing that mints or stores tokens', () => {
    const offenders = [...importGraph()]
      .filter(([module]) => module.startsWith('flow/'))
      .flatMap(([module, targets]) => targets.filter((target) => MINTING.includes(target)).map((target) => `${module} → ${target}`));
    expect(offenders).toEqual([]);
  });

  it('the reader sees every kind of import', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b.js';",
      "import c, { type D } from './c.js';",
      "export { e } from './e.js';",
      "export type * from './f.js';",
      "import './g.js';",
      "const h = await import('./h.js');",
      'import {\n  i,\n  j,\n} from "./ij.js";',
      "const notAnImport = 'from ./k.js';",
    ].join('\n');
    expect(importSpecifiers(text).sort()).toEqual(['../b.js', './a.js', './c.js', './e.js', './f.js', './g.js', './h.js', './ij.js']);
  });

  it('the detector finds each cycle, self-imports included, and nothing in an acyclic graph', () => {
    const graph = new Map<string, string[]>([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts', 'd.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['e.ts']],
      ['e.ts', []],
      ['f.ts', ['f.ts']],
      ['g.ts', ['h.ts']],
      ['h.ts', ['g.ts', 'e.ts']],
    ]);
    expect(importCycles(graph).sort()).toEqual(['a.ts → b.ts → c.ts → a.ts', 'f.ts → f.ts', 'g.ts → h.ts → g.ts']);
    expect(
      importCycles(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', ['c.ts']],
          ['c.ts', []],
          ['d.ts', ['b.ts', 'c.ts']],
        ]),
      ),
    ).toEqual([]);
  });
});
