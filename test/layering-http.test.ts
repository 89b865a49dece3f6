/**
 * Layering (issue 13 #5): src/http/ is what every listener shares, below the domains. It imports no
 * domain module, the CLI or the composition root (src/servers.ts); a domain's behaviour reaches it
 * as a dependency (e.g. the per-client CORS check handed to `createApp`).
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
