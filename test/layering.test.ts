/**
 * Layering (issue 13 #2): only store and repository modules and the persistence layer touch Kysely
 * (the janitor asks each store to delete its own expired rows). Everything else reaches the database
 * through a store interface, so a transaction across stores and a new dialect change those modules only.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');

/** Modules allowed to build queries: the persistence layer, `*-store.ts`, `repository.ts`. */
function mayTouchKysely(path: string): boolean {
  return path.startsWith('persistence/') || /(^|\/|-)store\.ts$/.test(path) || /(^|\/)repository\.ts$/.test(path);
}

/** What in a module's text shows it uses Kysely: an import of it, or a query-builder call. */
function kyselyUse(text: string): string | undefined {
  const importing = /from\s+['"]kysely['"]|import\(\s*['"]kysely['"]\s*\)/.exec(text);
  if (importing) return importing[0];
  const building = /\.(selectFrom|insertInto|deleteFrom|updateTable|replaceInto)\(/.exec(text);
  return building?.[0];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('layering', () => {
  it('only stores, repositories and persistence/ touch Kysely', () => {
    const offenders = sourceFiles(SRC)
      .map((file) => ({ path: relative(SRC, file).split('\\').join('/'), use: kyselyUse(readFileSync(file, 'utf8')) }))
      .filter(({ path, use }) => use !== undefined && !mayTouchKysely(path))
      .map(({ path, use }) => `${path}: ${use}`);
    expect(offenders).toEqual([]);
  });

  it('the check sees an import, a dynamic import and a query-builder call, and allows only the store layer', () => {
    expect(kyselyUse("import { sql } from 'kysely';")).toBeDefined();
    expect(kyselyUse("const { sql } = await import('kysely');")).toBeDefined();
    expect(kyselyUse('await registry.database.db.deleteFrom("used_jtis").execute();')).toBeDefined();
    expect(kyselyUse('const scope = parseScope(body.scope);')).toBeUndefined();
    expect(mayTouchKysely('oauth2/token-store.ts')).toBe(true);
    expect(mayTouchKysely('client/repository.ts')).toBe(true);
    expect(mayTouchKysely('persistence/migrations/0001-init.ts')).toBe(true);
    expect(mayTouchKysely('oauth2/client-auth.ts')).toBe(false);
    expect(mayTouchKysely('oauth2/restore.ts')).toBe(false);
    expect(mayTouchKysely('janitor/janitor.ts')).toBe(false);
  });
});
