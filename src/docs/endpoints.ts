/**
 * Renders the endpoint → file table of docs/architecture.md from the route index (`ROUTES` in
 * src/servers.ts): both listeners are built as `serve` builds them, every route is recorded with
 * the route module that registered it, and each module is named by the source file declaring it.
 * `npm run docs:endpoints` rewrites the table between its markers; a test fails when the committed
 * table differs from what this renders.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import { createApp, type Listener, type RouteModule } from '../http/app.js';
import { createLogger } from '../observability/logger.js';
import { createRegistry } from '../registry.js';
import { ROUTES } from '../servers.js';
import { isMainModule } from '../util/main-module.js';

/** One path of a listener with the methods one route module serves on it. */
export interface Endpoint {
  listener: Listener;
  methods: string[];
  path: string;
  /** The route module's export name, e.g. `tokenEndpoint`. */
  module: string;
}

export const TABLE_START = '<!-- endpoints:start (generated from src/servers.ts by `npm run docs:endpoints`; do not edit) -->';
export const TABLE_END = '<!-- endpoints:end -->';

/** The sources next to this module's tree: src/ from src/docs/ and, for the built script, from dist/docs/. */
const SOURCE_ROOT = fileURLToPath(new URL('../../src/', import.meta.url));
const ARCHITECTURE_DOC = fileURLToPath(new URL('../../docs/architecture.md', import.meta.url));

/** Every route both listeners serve, in the order of the route index (HEAD, which Fastify adds to each GET, left out). */
export async function collectEndpoints(): Promise<Endpoint[]> {
  const config = loadConfig({ env: { DSN: 'memory', SECRETS_SYSTEM: 'endpoint-docs-0123456789abcdef' }, overrides: { dev: true } });
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const registry = await createRegistry(config, createLogger(config.log, silent), { migrate: false });
  const endpoints: Endpoint[] = [];
  try {
    for (const listener of ['public', 'admin'] as const) {
      let registering: RouteModule | undefined;
      // Route modules register synchronously, so the routes added while one runs are its own.
      const traced = ROUTES[listener].map(
        (module): RouteModule =>
          (scope, shared) => {
            registering = module;
            try {
              module(scope, shared);
            } finally {
              registering = undefined;
            }
          },
      );
      const app = createApp(registry, listener, traced);
      app.addHook('onRoute', (route) => {
        const methods = [route.method].flat().filter((method) => method !== 'HEAD');
        if (methods.length === 0 || route.config?.refusal === true) return;
        if (!registering) throw new Error(`${route.url} was registered outside a route module of the ${listener} listener`);
        const module = registering.name;
        const known = endpoints.find((e) => e.listener === listener && e.path === route.url && e.module === module);
        if (known) known.methods.push(...methods);
        else endpoints.push({ listener, methods, path: route.url, module });
      });
      await app.ready();
      await app.close();
    }
  } finally {
    await registry.close();
  }
  return endpoints;
}

/** The `src/`-relative file that declares each exported name (`export const name` or `export function name`). */
function declaringFiles(names: Iterable<string>): Map<string, string> {
  const wanted = new Set(names);
  const found = new Map<string, string>();
  for (const file of sourceFiles(SOURCE_ROOT)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^export (?:const|function) (\w+)/gm)) {
      const name = match[1] as string;
      if (wanted.has(name)) found.set(name, relative(SOURCE_ROOT, file).split('\\').join('/'));
    }
  }
  for (const name of wanted) if (!found.has(name)) throw new Error(`no module under src/ exports the route module ${name}`);
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The Markdown table, with its markers. */
export function renderEndpointTable(endpoints: Endpoint[]): string {
  const files = declaringFiles(endpoints.map((endpoint) => endpoint.module));
  const rows = endpoints.map(
    ({ listener, methods, path, module }) =>
      `| ${listener} | ${methods.join(', ')} | \`${path}\` | \`src/${files.get(module)}\` (\`${module}\`) |`,
  );
  return [TABLE_START, '| listener | method | path | module (export) |', '| --- | --- | --- | --- |', ...rows, TABLE_END].join('\n');
}

/** `doc` with the text between the markers (markers included) replaced by `table`. */
export function withEndpointTable(doc: string, table: string): string {
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  if (start === -1 || end < start) throw new Error('docs/architecture.md has no endpoint table markers');
  return doc.slice(0, start) + table + doc.slice(end + TABLE_END.length);
}

if (isMainModule(import.meta.url)) {
  const table = renderEndpointTable(await collectEndpoints());
  writeFileSync(ARCHITECTURE_DOC, withEndpointTable(readFileSync(ARCHITECTURE_DOC, 'utf8'), table));
}
