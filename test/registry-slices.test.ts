/**
 * Registry slices (issue 13 #4): each area names the slice of the registry it uses (`FlowDeps`,
 * `TokenIssuingDeps`, … in the area's `deps.ts`), so a signature shows what a module may touch, as
 * Hydra's per-package registries do. Route modules receive the whole registry at their boundary
 * (`RouteModule`); what they call takes a slice. This fails when anything else declares a parameter
 * or property of the whole `Registry` type, or spells a slice ad hoc (`Pick<Registry, …>` inline).
 */
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parse, parsedSources } from './support/source.js';

/**
 * Modules that may hold the whole registry, and why:
 * - `registry.ts` defines and builds it;
 * - `servers.ts` is the composition root that hands it to the listeners;
 * - `cli/` commands create registries and pass them to `startServers`;
 * - `http/app.ts` declares `RouteModule` and `createApp`, which hands the registry to the route modules (their boundary).
 */
const WHOLE_REGISTRY_ALLOWED = [/^registry\.ts$/, /^servers\.ts$/, /^cli\//, /^http\/app\.ts$/];

/** Whether a parameter belongs to a function assigned to a `RouteModule`-typed constant (a route module's boundary). */
function isRouteModuleParameter(parameter: ts.ParameterDeclaration): boolean {
  const fn = parameter.parent;
  const declaration = ts.isParenthesizedExpression(fn.parent) ? fn.parent.parent : fn.parent;
  return (
    (ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) &&
    declaration !== undefined &&
    ts.isVariableDeclaration(declaration) &&
    declaration.type !== undefined &&
    ts.isTypeReferenceNode(declaration.type) &&
    declaration.type.typeName.getText() === 'RouteModule'
  );
}

/** The references to `Registry` inside a type: each either the whole registry or an inline `Pick` of it. */
function registryReferences(type: ts.TypeNode): ('whole' | 'ad hoc')[] {
  const found: ('whole' | 'ad hoc')[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isTypeReferenceNode(node) && node.typeName.getText() === 'Registry') {
      const parent = node.parent;
      const inPick = ts.isTypeReferenceNode(parent) && parent.typeName.getText() === 'Pick';
      found.push(inPick ? 'ad hoc' : 'whole');
    }
    ts.forEachChild(node, visit);
  };
  visit(type);
  return found;
}

/** Each parameter or property of a module typed with the whole `Registry` or an inline slice of it, as `line: text (kind)`. */
function registryUses(source: ts.SourceFile): string[] {
  const uses: string[] = [];
  const visit = (node: ts.Node) => {
    const typed = ts.isParameter(node) || ts.isPropertySignature(node) || ts.isPropertyDeclaration(node);
    if (typed && node.type !== undefined && !(ts.isParameter(node) && isRouteModuleParameter(node))) {
      for (const kind of registryReferences(node.type)) {
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        uses.push(`${line}: ${node.getText()} (${kind === 'whole' ? 'the whole Registry' : 'an ad hoc slice'})`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return uses;
}

describe('registry slices', () => {
  it('only the composition root, the CLI and route modules take the whole registry; slices are named', () => {
    const offenders = parsedSources()
      .filter(({ path }) => !WHOLE_REGISTRY_ALLOWED.some((allowed) => allowed.test(path)))
      .flatMap(({ path, source }) => registryUses(source).map((use) => `${path}:${use}`));
    expect(offenders).toEqual([]);
  });

  it("gives each slice one name, declared once (in its area's deps module or beside its main module)", () => {
    const named = parsedSources().flatMap(({ path, source }) =>
      source.statements
        .filter(ts.isTypeAliasDeclaration)
        .filter((alias) => registryReferences(alias.type).includes('ad hoc'))
        .map((alias) => `${path}: ${alias.name.text}`),
    );
    expect(named).toEqual(
      expect.arrayContaining(['flow/deps.ts: FlowDeps', 'oauth2/deps.ts: TokenIssuingDeps', 'oidc/deps.ts: BackChannelDeps']),
    );
    const names = named.map((entry) => entry.split(': ')[1]);
    expect(new Set(names).size).toBe(names.length);
  });

  it('the check sees whole-registry parameters and properties and inline slices, and lets route modules and named slices pass', () => {
    const uses = (text: string) => registryUses(parse(text)).map((use) => use.replace(/^\d+: /, ''));
    expect(uses('export function mint(registry: Registry, input: Input) {}')).toEqual(['registry: Registry (the whole Registry)']);
    expect(uses('const check = async (deps: Readonly<Registry>) => {};')).toEqual(['deps: Readonly<Registry> (the whole Registry)']);
    expect(uses('export interface GrantContext {\n  registry: Registry;\n}')).toEqual(['registry: Registry; (the whole Registry)']);
    expect(uses("function sign(registry: Pick<Registry, 'keys'>) {}")).toEqual(["registry: Pick<Registry, 'keys'> (an ad hoc slice)"]);
    expect(uses('class Service {\n  constructor(private readonly registry: Registry) {}\n}')).toHaveLength(1);
    expect(uses('export const tokenEndpoint: RouteModule = (app, registry: Registry) => {};')).toEqual([]);
    expect(uses('export const tokenEndpoint = (app: FastifyInstance, registry: Registry) => {};')).toHaveLength(1);
    expect(uses('export function mint(registry: TokenIssuingDeps) {}')).toEqual([]);
    expect(uses("export type FlowDeps = Pick<Registry, 'config' | 'keyring'>;")).toEqual([]);
    expect(WHOLE_REGISTRY_ALLOWED.some((allowed) => allowed.test('oauth2/issue.ts'))).toBe(false);
    expect(WHOLE_REGISTRY_ALLOWED.some((allowed) => allowed.test('cli/serve.ts'))).toBe(true);
  });
});
