import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from '../src/config/docs.js';
import { formatDuration } from '../src/config/duration.js';
import { HYDRA_KEYS } from '../src/config/hydra-keys.js';
import { envName, leaves } from '../src/config/schema.js';

const committed = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');

/** The block of the rendered docs that documents one key, up to the next heading. */
function block(docs: string, key: string): string {
  const start = docs.indexOf(`#### \`${key}\`\n`);
  expect(start, `no heading for ${key}`).toBeGreaterThanOrEqual(0);
  const end = docs.indexOf('\n#', start + 1);
  return docs.slice(start, end === -1 ? undefined : end);
}

describe('generated configuration docs', () => {
  it('docs/configuration.md is exactly what the schema renders (run `npm run docs:config` after changing the schema)', () => {
    expect(committed).toBe(renderConfigDocs());
  });

  it('documents every key with its environment variable and description, once', () => {
    const docs = renderConfigDocs();
    for (const [key, leaf] of leaves()) {
      expect(docs.split(`#### \`${key}\`\n`), key).toHaveLength(2);
      const text = block(docs, key);
      expect(text).toContain(`Environment variable: \`${envName(key)}\``);
      expect(text).toContain(leaf.description);
    }
  });

  it('formats defaults as they are written: Go durations, comma-joined lists, enums with their allowed values', () => {
    const docs = renderConfigDocs();
    expect(block(docs, 'ttl.access_token')).toContain('Default: `1h0m0s`');
    expect(block(docs, 'ttl.refresh_token')).toContain(`Default: \`${formatDuration(720 * 3_600_000)}\``);
    expect(block(docs, 'ttl.refresh_token')).toContain('Default: `720h0m0s`');
    expect(block(docs, 'ttl.auth_code')).toContain('Default: `10m0s`');
    expect(block(docs, 'serve.public.port')).toContain('Default: `4444`');
    expect(block(docs, 'serve.public.port')).toContain('integer (0 to 65535)');
    expect(block(docs, 'oidc.dynamic_client_registration.default_scope')).toContain('Default: `offline_access,offline,openid`');
    expect(block(docs, 'strategies.access_token')).toContain('Allowed values: `opaque`, `jwt`');
    expect(block(docs, 'strategies.access_token')).toContain('Default: `opaque`');
    expect(block(docs, 'log.level')).toContain('Allowed values: `trace`, `debug`, `info`, `warn`, `error`, `fatal`, `silent`');
    // Keys that are not enums list no allowed values.
    expect(block(docs, 'dsn')).not.toContain('Allowed values');
  });

  it('never shows a value for a secret key', () => {
    const docs = renderConfigDocs();
    const secrets = leaves().filter(([, leaf]) => leaf.secret);
    expect(secrets.map(([key]) => key)).toContain('secrets.system');
    for (const [key] of secrets) expect(block(docs, key), key).toContain('Default: (none)');
  });

  it('groups keys by top-level section, in schema order', () => {
    const docs = renderConfigDocs();
    const sections = [...new Set(leaves().map(([key]) => key.split('.')[0]))];
    const positions = sections.map((section) => docs.indexOf(`\n### ${section}\n`));
    expect(positions.every((position) => position > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // Every key sits under its own section's heading.
    for (const [key] of leaves()) {
      const at = docs.indexOf(`#### \`${key}\``);
      const section = key.split('.')[0] as string;
      const owner = sections.filter((_, i) => (positions[i] as number) < at).pop();
      expect(owner, key).toBe(section);
    }
  });

  it('explains sources and precedence, start-up errors and development mode', () => {
    const docs = renderConfigDocs();
    expect(docs).toMatch(/Defaults[\s\S]*-c[\s\S]*YAML or JSON[\s\S]*Environment variables[\s\S]*Command-line flags/);
    expect(docs).toContain('`SERVE_PUBLIC_PORT`');
    expect(docs).toContain('comma-separated');
    // The example error is the loader's real message: one line naming the key.
    expect(docs).toContain(
      'invalid configuration: serve.public.port (from environment variable SERVE_PUBLIC_PORT): expected an integer from 0 to 65535, got "abc"',
    );
    expect(docs).toContain('## Development mode (`--dev`)');
    expect(docs).toContain('data/system-secret');
  });

  it('lists every Hydra key once, with its environment variable and what Portcullis does with it', () => {
    const docs = renderConfigDocs();
    const section = docs.slice(docs.indexOf("## Hydra's configuration keys"), docs.indexOf('## Reference'));
    expect(section.length).toBeGreaterThan(1000);
    const fateText = { implemented: 'implemented', ignored: 'no effect', pending: 'not implemented yet', refused: 'refused' };
    for (const [key, fate] of Object.entries(HYDRA_KEYS)) {
      const rows = section.split('\n').filter((line) => line.startsWith(`| \`${key}\` |`));
      expect(rows, key).toHaveLength(1);
      const row = rows[0] as string;
      expect(row).toContain(`\`${envName(key)}\``);
      expect(row).toContain(fateText[fate.fate]);
      expect(row).toContain(fate.why);
      if (fate.harmless) expect(row).toContain(fate.harmless.why);
    }
  });
});
