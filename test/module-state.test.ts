/**
 * No hidden module state (issue 13 #4): what a process remembers (caches, pools, dummy hashes) lives
 * in objects the registry (or the identity UI's context) owns, so two registries in one process never
 * share it and a test sees all of it. A module's top level may hold constants only: no `let` or `var`,
 * and a `Map` or `Set` there is typed `ReadonlyMap`/`ReadonlySet` so nothing can add to it (a frozen
 * Map would not do: `Object.freeze` leaves `set` working). WeakMaps, WeakSets and LRU maps exist to be
 * written, so none may sit at a module's top level.
 */
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parse, parsedSources } from './support/source.js';

/** Collections that are only ever constant when typed read-only. */
const READONLY_VIEW: Readonly<Record<string, string>> = { Map: 'ReadonlyMap', Set: 'ReadonlySet' };
/** Collections with no read-only view: at a module's top level they can only be state. */
const ALWAYS_STATE: readonly string[] = ['WeakMap', 'WeakSet', 'LruMap'];

/** Each top-level declaration of a module that is mutable state, as `line: text`. */
function moduleState(source: ts.SourceFile): string[] {
  const found: string[] = [];
  const report = (node: ts.Node) =>
    found.push(`${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${node.getText().split('\n')[0]}`);
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement)) continue;
    const list = statement.declarationList;
    if ((list.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const | ts.NodeFlags.Using)) !== ts.NodeFlags.Const) {
      report(list);
      continue;
    }
    for (const declaration of list.declarations) {
      const init = declaration.initializer;
      if (!init || !ts.isNewExpression(init)) continue;
      const made = init.expression.getText();
      const view = READONLY_VIEW[made];
      const typed = declaration.type && ts.isTypeReferenceNode(declaration.type) ? declaration.type.typeName.getText() : undefined;
      if (ALWAYS_STATE.includes(made) || (view !== undefined && typed !== view)) report(declaration);
    }
  }
  return found;
}

describe('module state', () => {
  it('no module in src/ keeps mutable state at its top level', () => {
    const offenders = parsedSources().flatMap(({ path, source }) => moduleState(source).map((entry) => `${path}:${entry}`));
    expect(offenders).toEqual([]);
  });

  it('the check refuses top-level let, var, writable Maps and Sets, WeakMaps and LRUs, and allows constants and local state', () => {
    const state = (text: string) => moduleState(parse(text)).map((entry) => entry.replace(/^\d+: /, ''));
    expect(state('let pool = Buffer.alloc(0);')).toEqual(['let pool = Buffer.alloc(0)']);
    expect(state('export let offset = 0, size = 1;')).toEqual(['let offset = 0, size = 1']);
    expect(state('var dummy;')).toEqual(['var dummy']);
    expect(state("const seen = new Set(['a']);")).toEqual(["seen = new Set(['a'])"]);
    expect(state('export const cache = new Map<string, number>();')).toEqual(['cache = new Map<string, number>()']);
    expect(state('const byRegistry: Map<object, number> = new Map();')).toEqual(['byRegistry: Map<object, number> = new Map()']);
    expect(state('const byRegistry = new WeakMap<object, State>();')).toHaveLength(1);
    expect(state('const answers = new LruMap<string, string>(100);')).toHaveLength(1);
    expect(state("const ROUTES: ReadonlySet<string> = new Set(['/oauth2/token']);")).toEqual([]);
    expect(state('const CODE: ReadonlyMap<string, number> = new Map(KEYS.map((key, i) => [key, i]));')).toEqual([]);
    expect(state("const LIMIT = 5;\nconst NAMES = ['a'] as const;\nconst WHOLE = new RegExp('x');")).toEqual([]);
    expect(state('export function draw() {\n  let offset = 0;\n  const seen = new Set();\n  return [offset, seen];\n}')).toEqual([]);
    expect(state('export class Pool {\n  private pool = Buffer.alloc(0);\n}')).toEqual([]);
  });
});
