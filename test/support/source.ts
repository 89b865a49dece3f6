import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** The source tree the structural tests read. */
export const SRC = join(import.meta.dirname, '..', '..', 'src');

/** Every `.ts` file under `dir`, recursively. */
export function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** src/'s modules, as `src/`-relative paths with forward slashes, each parsed (syntax only, no type check). */
export function parsedSources(): { path: string; source: ts.SourceFile }[] {
  return sourceFiles(SRC).map((file) => ({ path: relative(SRC, file).split('\\').join('/'), source: parse(readFileSync(file, 'utf8')) }));
}

/** A module's syntax tree, for rules a regular expression would get wrong. */
export function parse(text: string, name = 'module.ts'): ts.SourceFile {
  return ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}
