/**
 * docs/architecture.md says where each endpoint lives: its endpoint table is generated from the
 * route index (src/servers.ts) by src/docs/endpoints.ts, and must be exactly what that renders.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { collectEndpoints, type Endpoint, renderEndpointTable, TABLE_END, TABLE_START, withEndpointTable } from '../src/docs/endpoints.js';
import { ROUTES } from '../src/servers.js';

const committed = readFileSync(new URL('../docs/architecture.md', import.meta.url), 'utf8');

let endpoints: Endpoint[];
beforeAll(async () => {
  endpoints = await collectEndpoints();
});

describe('endpoint table of docs/architecture.md', () => {
  it('is exactly what the route index renders (run `npm run docs:endpoints` after changing routes)', () => {
    expect(committed).toBe(withEndpointTable(committed, renderEndpointTable(endpoints)));
  });

  it('lists every route module of both listeners, with the file that declares it', () => {
    const table = renderEndpointTable(endpoints);
    for (const listener of ['public', 'admin'] as const) {
      const listed = new Set(endpoints.filter((e) => e.listener === listener).map((e) => e.module));
      expect([...listed].sort()).toEqual(ROUTES[listener].map((module) => module.name).sort());
    }
    expect(table).toContain('| public | POST | `/oauth2/token` | `src/oauth2/token-endpoint.ts` (`tokenEndpoint`) |');
    expect(table).toContain(
      '| admin | POST | `/admin/oauth2/introspect` | `src/oauth2/introspection-admin-routes.ts` (`introspectionAdminRoutes`) |',
    );
    expect(table).toContain('| public | GET, POST | `/userinfo` | `src/oidc/userinfo-endpoint.ts` (`userinfoEndpoint`) |');
    expect(table).not.toMatch(/\| HEAD/);
  });

  it('route modules follow the naming pattern: <name>-endpoint.ts exporting <name>Endpoint, <name>-admin-routes.ts exporting <name>AdminRoutes', () => {
    const table = renderEndpointTable(endpoints);
    const kebab = (name: string) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    for (const module of new Set([...ROUTES.public, ...ROUTES.admin].map((route) => route.name))) {
      expect(module, module).toMatch(/^[a-z][a-zA-Z]*(Endpoint|AdminRoutes)$/);
      expect(table, module).toMatch(new RegExp(`\`src/([a-z0-9-]+/)+${kebab(module)}\\.ts\` \\(\`${module}\`\\)`));
    }
  });

  it('replaces only the text between its markers, and refuses a document without them', () => {
    const doc = `before\n${TABLE_START}\nold rows\n${TABLE_END}\nafter\n`;
    expect(withEndpointTable(doc, `${TABLE_START}\nnew\n${TABLE_END}`)).toBe(`before\n${TABLE_START}\nnew\n${TABLE_END}\nafter\n`);
    expect(() => withEndpointTable('no markers', 'table')).toThrow(/markers/);
  });
});
