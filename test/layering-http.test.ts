/**
 * Layering (issue 13 #5): src/http/ is what every listener shares, below the domains. It imports no
 * domain module, the CLI or the composition root (src/servers.ts); a domain's behaviour reaches it
 * as a dependency (e.g. the per-client CORS check handed to `createApp`). Route modules are leaves
 * that only the composition root imports: logic another module needs lives beside them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');
const DOMAINS = ['client', 'flow', 'oauth2', 'oidc', 'jwk', 'identity', 'janitor', 'health', 'demo', 'cli'];

/** Every module specifier a source text imports or re-exports, statically or dynamically. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]/g)) found.push(match[1] as string);
  return found;
}

/** The specifiers a source text loads at run time: `import type` and `export type` lines left out. */
function runtimeSpecifiers(text: string): string[] {
  return specifiers(
    text
      .split(/;\s*\n|\n(?=import|export)/)
      .filter((statement) => !/^\s*(import|export)\s+type\b/.test(statement))
      .join(';\n'),
  );
}

/** Route modules: `<name>-endpoint.ts` and `<name>-admin-routes.ts`. */
function isRouteModule(path: string): boolean {
  return /-(endpoint|admin-routes)\.(ts|js)$/.test(path);
}

/** The `src/`-relative module a specifier of `file` names; undefined for a package. */
function target(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  return relative(SRC, resolve(dirname(file), specifier))
    .split('\\')
    .join('/');
}

/** Whether an `src/`-relative module is a domain's, the CLI's or the composition root. */
function isAboveHttp(path: string): boolean {
  return path === 'servers.js' || path === 'servers.ts' || DOMAINS.some((domain) => path.startsWith(`${domain}/`));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('layering of src/http', () => {
  it('imports no domain module, the CLI or the composition root', () => {
    const files = sourceFiles(join(SRC, 'http'));
    expect(files.length).toBeGreaterThan(5);
    const offenders = files.flatMap((file) =>
      specifiers(readFileSync(file, 'utf8'))
        .map((specifier) => target(file, specifier))
        .filter((path): path is string => path !== undefined && isAboveHttp(path))
        .map((path) => `${relative(SRC, file)} imports ${path}`),
    );
    expect(offenders).toEqual([]);
  });

  it('the check sees static, type-only, dynamic and re-exporting imports, and resolves them from the importing file', () => {
    const file = join(SRC, 'http', 'plugins', 'example.ts');
    const text = [
      "import { clientOrigins } from '../../oauth2/client-cors.js';",
      "import type { Registry } from '../../registry.js';",
      "const { startServers } = await import('../../servers.js');",
      "export { parseScope } from '../../oauth2/scope.js';",
      "import Fastify from 'fastify';",
      "import { HttpError } from '../errors.js';",
    ].join('\n');
    const paths = specifiers(text).map((specifier) => target(file, specifier));
    expect(paths).toEqual(['oauth2/client-cors.js', 'registry.js', 'servers.js', 'oauth2/scope.js', undefined, 'http/errors.js']);
    expect(paths.map((path) => path !== undefined && isAboveHttp(path))).toEqual([true, false, true, true, false, false]);
    expect(isAboveHttp('flow/consent.js')).toBe(true);
    expect(isAboveHttp('persistence/errors.js')).toBe(false);
    expect(isAboveHttp('oauth2-like/thing.js')).toBe(false);
  });
});

describe('route modules', () => {
  it('are imported (at run time) by the composition root only', () => {
    const offenders = sourceFiles(SRC)
      .filter((file) => relative(SRC, file) !== 'servers.ts')
      .flatMap((file) =>
        runtimeSpecifiers(readFileSync(file, 'utf8'))
          .map((specifier) => target(file, specifier))
          .filter((path): path is string => path !== undefined && isRouteModule(path))
          .map((path) => `${relative(SRC, file).split('\\').join('/')} imports ${path}`),
      );
    expect(offenders).toEqual([]);
  });

  it('the check tells route modules from their helpers, and type-only imports from loads', () => {
    expect(isRouteModule('oauth2/token-endpoint.js')).toBe(true);
    expect(isRouteModule('client/client-admin-routes.js')).toBe(true);
    expect(isRouteModule('flow/session-admin-routes.js')).toBe(true);
    expect(isRouteModule('flow/session-routes.js')).toBe(false);
    expect(isRouteModule('oauth2/presented-token.js')).toBe(false);
    expect(isRouteModule('oidc/userinfo-claims.js')).toBe(false);
    const text = [
      "import type { GrantHandler } from '../token-endpoint.js';",
      "import { userinfoClaims } from './userinfo-endpoint.js';",
      'import {',
      '  type A,',
      '  b,',
      "} from './discovery-endpoint.js';",
      "export type { TokenResponse } from './token-endpoint.js';",
    ].join('\n');
    expect(runtimeSpecifiers(text)).toEqual(['./userinfo-endpoint.js', './discovery-endpoint.js']);
  });
});
