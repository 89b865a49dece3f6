/**
 * A Hydra deployment's configuration moves over unchanged (issue 14 #1, #7): every key of Hydra's
 * reference list, from a file and from the environment, meets the fate src/config/hydra-keys.ts gives it;
 * Hydra's five-minute quickstart starts as its compose file starts it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { HYDRA_KEYS, type KeyFate, PUBLISHED_SETS } from '../src/config/hydra-keys.js';
import { ConfigError, type LoadOptions, loadConfig } from '../src/config/load.js';
import { envName, type Leaf, leaves, URL_SHORTHANDS } from '../src/config/schema.js';
import { BUILTIN_SETS } from '../src/jwk/manager.js';
import { createLogger } from '../src/observability/logger.js';
import { CliProcess, killAll, loopbackServeEnv, runCli } from './support/cli.js';
import { admin, CodeFlow, REDIRECT_URI } from './support/http-flow.js';
import { freePort } from './support/server.js';

interface ReferenceKey {
  key: string;
  type: string;
  default: unknown;
  allowed: string[];
}

/** Hydra's keys as listed in test/reference/hydra-config-keys.md (a copy of the project's shared reference). */
const REFERENCE: ReferenceKey[] = [
  ...readFileSync(new URL('./reference/hydra-config-keys.md', import.meta.url), 'utf8').matchAll(
    /^\| `([^`]+)` \| ([^|]+) \| ([^|]*) \| ([^|]*) \|/gm,
  ),
].map(([, key, type, def, allowed]) => ({
  key: key as string,
  type: (type as string).trim(),
  default: (def as string).trim() === '' ? undefined : JSON.parse((def as string).trim().replace(/^`|`$/g, '')),
  allowed: (allowed as string)
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value !== ''),
}));

const LEAVES = new Map(leaves());
const dir = mkdtempSync(join(tmpdir(), 'portcullis-hydra-config-'));
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
/** A configuration file setting one dotted key. */
function fileWith(key: string, value: unknown): string {
  const document: Record<string, unknown> = {};
  const parts = key.split('.');
  let node = document;
  for (const part of parts.slice(0, -1)) {
    node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
  const path = join(dir, `c${files++}.yaml`);
  writeFileSync(path, stringify(document));
  return path;
}

/** How the environment writes a value: lists comma-separated, objects as JSON. */
function envValue(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

interface Outcome {
  error?: string;
  warnings: string[];
  config?: ReturnType<typeof loadConfig>;
}

function load(options: LoadOptions): Outcome {
  const warnings: string[] = [];
  try {
    return { config: loadConfig({ ...options, onWarning: (warning) => warnings.push(warning) }), warnings };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { error: error.message, warnings };
  }
}

/** The key set alone, from a file and from the environment; each outcome with where the value came from. */
function bothSources(key: string, value: unknown): Array<[source: string, outcome: Outcome]> {
  const file = fileWith(key, value);
  const name = envName(key);
  return [
    [file, load({ file })],
    [`environment variable ${name}`, load({ env: { [name]: envValue(value) } })],
  ];
}

/** A value a Portcullis key accepts that is not its default, from its schema leaf. */
function schemaSample(leaf: Leaf): { given: unknown; loaded: unknown } {
  switch (leaf.kind) {
    case 'string':
      return { given: 'sample-value-0123456789', loaded: 'sample-value-0123456789' };
    case 'url':
      return { given: 'https://sample.example/path', loaded: 'https://sample.example/path' };
    case 'address':
      return { given: 'collector.example:4318', loaded: 'collector.example:4318' };
    case 'integer': {
      const value = leaf.default < leaf.max ? leaf.default + 1 : leaf.default - 1;
      return { given: value, loaded: value };
    }
    case 'number': {
      const value = (leaf.min + leaf.max) / 2 === leaf.default ? leaf.min : (leaf.min + leaf.max) / 2;
      return { given: value, loaded: value };
    }
    case 'boolean':
      return { given: !leaf.default, loaded: !leaf.default };
    case 'duration':
      // Short enough for every duration key (the refresh grace period is at most 5m).
      return { given: '4m30s', loaded: 270_000 };
    case 'list': {
      const value = leaf.itemsOneOf
        ? [leaf.itemsOneOf[0]]
        : leaf.minItemLength
          ? ['s'.repeat(leaf.minItemLength), 't'.repeat(leaf.minItemLength)]
          : ['sample-a', 'sample-b'];
      return { given: value, loaded: value };
    }
    case 'enum': {
      const value = leaf.values.find((candidate) => candidate !== leaf.default);
      return { given: value, loaded: value };
    }
    case 'headers':
      return { given: { 'X-Api-Key': 'sample-value' }, loaded: { 'X-Api-Key': 'sample-value' } };
  }
}

/** A value of Hydra's type for a key Portcullis does not implement. */
function hydraSample({ key, type, allowed }: ReferenceKey): unknown {
  if (allowed.length > 0) return allowed[0];
  if (type === 'boolean') return true;
  if (type === 'integer') return 7;
  if (type === 'number') return 0.5;
  if (type === 'array') return ['sample-value'];
  if (type === 'string or object') return 'https://hook.example/';
  // An object of Hydra keys (`oauth2.device_authorization.user_code`) given empty; a free-form one (headers) with an entry.
  if (type.startsWith('object')) return REFERENCE.some((other) => other.key.startsWith(`${key}.`)) ? {} : { sample: 'value' };
  return 'sample-value';
}

/**
 * For each refused key with a harmless value: that value (written as Hydra's docs write it) and one that
 * is refused. Listed here by hand, so that the table's predicates are held to values chosen independently.
 */
const HARMLESS: Record<string, { harmless: unknown; refused: unknown; envHarmless?: string }> = {
  'hsm.enabled': { harmless: false, refused: true },
  'feature_flags.legacy_allow_insecure_origins': { harmless: true, refused: false },
};

function expectFate(key: string, fate: KeyFate, source: string, outcome: Outcome, harmless: boolean): void {
  const given = `${key} (from ${source})`;
  if (fate.fate === 'refused' && !harmless) {
    expect(outcome.error, given).toBe(`${given}: ${fate.why}`);
    return;
  }
  expect(outcome.error, given).toBeUndefined();
  if (fate.fate === 'implemented') {
    expect(outcome.warnings, given).toEqual([]);
    return;
  }
  expect(outcome.warnings, given).toHaveLength(1);
  const [warning] = outcome.warnings as [string];
  expect(warning.startsWith(given), warning).toBe(true);
  if (harmless) expect(warning).toContain(fate.harmless?.why);
  else {
    expect(warning).toContain(fate.fate === 'ignored' ? 'has no effect in Portcullis' : 'is not implemented yet');
    expect(warning).toContain(fate.why);
  }
}

describe('the fates table', () => {
  it('has exactly the keys of Hydra’s reference list', () => {
    expect(REFERENCE).toHaveLength(160);
    expect(Object.keys(HYDRA_KEYS).sort()).toEqual(REFERENCE.map(({ key }) => key).sort());
  });

  it('calls implemented exactly the keys the schema has, of a type that takes Hydra’s values', () => {
    const kinds: Record<string, Leaf['kind'][]> = {
      boolean: ['boolean'],
      integer: ['integer'],
      number: ['number'],
      // A string matching one of three patterns (IPv6, IPv4 or host name, then a port), as the reference reads Hydra's `anyOf`.
      'object or object or object': ['address'],
      array: ['list'],
      string: ['string', 'url', 'duration', 'enum'],
      'string or object': ['duration'],
      object: ['headers'],
    };
    for (const { key, type } of REFERENCE) {
      const leaf = LEAVES.get(key);
      // A key also given as a URL alone (`oauth2.token_hook: <url>`) is implemented through its `url` leaf.
      const shorthand = URL_SHORTHANDS.has(key) && LEAVES.get(`${key}.url`)?.kind === 'url' && type === 'string or object';
      // An object of Hydra keys (`oauth2.device_authorization.user_code`) is implemented through its leaves.
      const object = type.startsWith('object') && [...LEAVES.keys()].some((other) => other.startsWith(`${key}.`));
      expect(HYDRA_KEYS[key]?.fate === 'implemented', key).toBe(leaf !== undefined || shorthand || object);
      if (leaf) expect(kinds[type], `${key}: ${type}`).toContain(leaf.kind);
    }
  });

  it('gives every key that is not implemented a reason, and every environment variable names one key', () => {
    for (const [key, fate] of Object.entries(HYDRA_KEYS)) if (fate.fate !== 'implemented') expect(fate.why.length, key).toBeGreaterThan(20);
    const names = [...Object.keys(HYDRA_KEYS), ...LEAVES.keys()].map(envName);
    expect(new Set(names).size).toBe(new Set([...Object.keys(HYDRA_KEYS), ...LEAVES.keys()]).size);
  });

  it('lists by hand every refused key that is harmless at one value', () => {
    const withHarmless = Object.entries(HYDRA_KEYS).filter(([, fate]) => fate.harmless);
    expect(withHarmless.map(([key]) => key).sort()).toEqual(Object.keys(HARMLESS).sort());
  });

  it('names the key sets the key manager always publishes', () => {
    expect([...PUBLISHED_SETS]).toEqual([...BUILTIN_SETS]);
  });

  it('implements every TLS and Unix socket key, each a string or integer of the schema', () => {
    const keys = Object.entries(HYDRA_KEYS).filter(([key]) => /^serve\.(public\.|admin\.)?(tls|socket)\./.test(key));
    expect(keys).toHaveLength(18);
    for (const [key, fate] of keys) {
      expect(fate.fate, key).toBe('implemented');
      expect(LEAVES.get(key)?.kind, key).toBe(key.endsWith('.mode') ? 'integer' : 'string');
    }
  });
});

describe('every Hydra key, set alone, from a file and from the environment', () => {
  it.each(REFERENCE.map((reference) => [reference.key, reference] as const))('%s', (key, reference) => {
    const fate = HYDRA_KEYS[key] as KeyFate;
    const leaf = LEAVES.get(key);
    if (leaf) {
      const { given, loaded } = schemaSample(leaf);
      for (const [source, outcome] of bothSources(key, given)) {
        expectFate(key, fate, source, outcome, false);
        expect(
          key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], outcome.config),
          source,
        ).toEqual(loaded);
      }
      // Hydra's own values: its default and every allowed value.
      for (const value of [...(reference.default === undefined ? [] : [reference.default]), ...reference.allowed]) {
        for (const [source, outcome] of bothSources(key, value)) expectFate(key, fate, `${source}`, outcome, false);
      }
      return;
    }
    const harmless = HARMLESS[key];
    const sample = harmless ? harmless.refused : hydraSample(reference);
    for (const [source, outcome] of bothSources(key, sample)) expectFate(key, fate, source, outcome, false);
    if (harmless) {
      const sources = bothSources(key, harmless.harmless);
      const tried = Array.isArray(harmless.harmless) && harmless.harmless.length === 0 ? sources.slice(0, 1) : sources;
      for (const [source, outcome] of tried) expectFate(key, fate, source, outcome, true);
    }
  });
});

describe('Hydra-only keys in a file', () => {
  it('walks into Hydra’s objects, and still refuses keys neither knows', () => {
    // The token hook is a schema object now; as a URL alone it sets its `url` (Hydra's short form).
    const hook = load({ file: fileWith('oauth2.token_hook', { url: 'https://hook.example/', auth: { type: 'api_key' } }) });
    expect(hook.config?.oauth2.token_hook).toMatchObject({ url: 'https://hook.example/', auth: { type: 'api_key' } });
    expect(load({ file: fileWith('oauth2.refresh_token_hook', 'https://hook.example/r') }).config?.oauth2.refresh_token_hook.url).toBe(
      'https://hook.example/r',
    );
    expect(load({ file: fileWith('oauth2.token_hook', 7) }).error).toMatch(/^oauth2\.token_hook .*expected an object of keys$/);
    const device = load({
      file: fileWith('urls.device', { verification: 'https://ui.example/verify', success: 'https://ui.example/done' }),
    });
    expect(device.warnings).toEqual([]);
    expect(device.config?.urls.device).toEqual({ verification: 'https://ui.example/verify', success: 'https://ui.example/done' });
    expect(load({ file: fileWith('urls.device.verificaton', 'https://ui.example/') }).error).toMatch(
      /^urls\.device\.verificaton \(from .*\): unknown configuration key$/,
    );
    expect(load({ file: fileWith('tracing.providers.otlp.color', 'blue') }).error).toContain('unknown configuration key');
    expect(load({ file: fileWith('urls.device', 'https://ui.example/') }).error).toMatch(/^urls\.device .*expected an object of keys$/);
    expect(load({ file: fileWith('serve.public.tls', null) }).error).toBeUndefined();
  });

  it('warns once about a key set in the file and the environment, naming the environment that wins', () => {
    const outcome = load({ file: fileWith('sqa.opt_out', true), env: { SQA_OPT_OUT: 'true' } });
    expect(outcome.warnings).toEqual([
      'sqa.opt_out (from environment variable SQA_OPT_OUT) has no effect in Portcullis and is ignored: Portcullis sends no usage statistics',
    ]);
  });

  it('reads TLS from the environment, where the issue found it ignored', () => {
    const outcome = load({ env: { SERVE_TLS_CERT_PATH: '/etc/tls/cert.pem', SERVE_TLS_KEY_PATH: '/etc/tls/key.pem' } });
    expect(outcome.error).toBeUndefined();
    expect(outcome.warnings).toEqual([]);
    expect(outcome.config?.serve.tls.cert.path).toBe('/etc/tls/cert.pem');
    expect(outcome.config?.serve.tls.key.path).toBe('/etc/tls/key.pem');
  });

  it('gives no warning when the configuration is refused anyway', () => {
    const outcome = load({ env: { SQA_OPT_OUT: 'true', SERVE_PUBLIC_PORT: 'abc' } });
    expect(outcome.error).toContain('serve.public.port');
    expect(outcome.warnings).toEqual([]);
  });
});

describe('environment variables that look like keys', () => {
  it('warns about an upper-case variable under a known first segment that names no key', () => {
    for (const name of [
      'SERVE_PUBLIC_PORTT',
      'OAUTH2_PKCE_ENFORCE',
      'URLS_LOGINN',
      'TTL_ACCESS',
      'LOG_LEVELL',
      'SECRETS_SYSTM',
      'TRACING_PROVIDERS',
    ]) {
      const outcome = load({ env: { [name]: 'x' } });
      expect(outcome.error, name).toBeUndefined();
      expect(outcome.warnings, name).toEqual([
        `environment variable ${name} matches no configuration key of Portcullis or Hydra and is ignored`,
      ]);
    }
  });

  it('leaves unrelated variables, lower case, empty values and the CLI’s client variables alone', () => {
    const outcome = load({
      env: {
        PATH: '/usr/bin',
        HOME: '/root',
        NODE_OPTIONS: '--max-old-space-size=512',
        serve_public_portt: '1',
        SERVE_PUBLIC_PORTT: '',
        OAUTH2_CLIENT_ID: 'my-client',
        OAUTH2_CLIENT_SECRET: 'my-secret',
        ORY_SDK_URL: 'http://127.0.0.1:4445',
        SERVEX: '1',
      },
    });
    expect(outcome.error).toBeUndefined();
    expect(outcome.warnings).toEqual([]);
  });
});

describe('Hydra’s value forms', () => {
  it('reads `ttl.refresh_token: -1` as a YAML number and as text', () => {
    expect(load({ file: fileWith('ttl.refresh_token', -1) }).config?.ttl.refresh_token).toBe(-1);
    expect(load({ file: fileWith('ttl.refresh_token', '-1') }).config?.ttl.refresh_token).toBe(-1);
    expect(load({ file: fileWith('ttl.access_token', -1) }).error).toContain('ttl.access_token');
  });

  it('reads `log.level: panic` as fatal, and names it in the error for a bad level', () => {
    expect(load({ env: { LOG_LEVEL: 'panic' } }).config?.log.level).toBe('fatal');
    expect(load({ env: { LOG_LEVEL: 'loud' } }).error).toBe(
      'log.level (from environment variable LOG_LEVEL): expected one of trace, debug, info, warn, error, fatal, silent (or panic), got "loud"',
    );
  });

  it('reads booleans as Go does, and lists in the environment as JSON arrays too', () => {
    for (const [text, value] of [
      ['TRUE', true],
      ['True', true],
      ['t', true],
      ['FALSE', false],
      ['f', false],
    ] as const) {
      expect(load({ env: { OAUTH2_PKCE_ENFORCED: text } }).config?.oauth2.pkce.enforced, text).toBe(value);
    }
    expect(load({ env: { OAUTH2_PKCE_ENFORCED: 'yes' } }).error).toContain('expected true or false');
    expect(load({ env: { SECRETS_SYSTEM: '["first-secret-0123456789", "second,secret-0123456789"]' } }).config?.secrets.system).toEqual([
      'first-secret-0123456789',
      'second,secret-0123456789',
    ]);
    expect(
      load({ env: { SERVE_PUBLIC_CORS_ALLOWED_ORIGINS: 'https://a.example,https://b.example' } }).config?.serve.public.cors.allowed_origins,
    ).toEqual(['https://a.example', 'https://b.example']);
    expect(load({ env: { SERVE_PUBLIC_CORS_ALLOWED_ORIGINS: '[1, 2]' } }).error).toContain('expected a list of strings');
  });

  it('reads Go durations such as 1h30m', () => {
    expect(load({ env: { TTL_ID_TOKEN: '1h30m' } }).config?.ttl.id_token).toBe(5_400_000);
  });

  it('logs `json_pretty` as indented JSON, with `log.redaction_text` in place of secrets', () => {
    const config = load({ env: { LOG_FORMAT: 'json_pretty', LOG_REDACTION_TEXT: '<hidden by policy>' } }).config;
    expect(config?.log.format).toBe('json_pretty');
    const out = new PassThrough();
    let written = '';
    out.on('data', (chunk) => {
      written += chunk;
    });
    const logger = createLogger(config?.log as NonNullable<typeof config>['log'], out);
    logger.info({ req: { headers: { authorization: 'Bearer secret-value' } } }, 'hello');
    expect(written.split('\n').length).toBeGreaterThan(3);
    const record = JSON.parse(written) as { msg: string; req: { headers: { authorization: string } } };
    expect(record.msg).toBe('hello');
    expect(record.req.headers.authorization).toBe('<hidden by policy>');
    expect(written).not.toContain('secret-value');
  });
});

/** The keys and values of Hydra's contrib/quickstart/5-min/hydra.yml, as its file writes them. */
const QUICKSTART = {
  serve: { cookies: { same_site_mode: 'Lax' } },
  urls: {
    self: { issuer: 'http://127.0.0.1:4444' },
    consent: 'http://127.0.0.1:3000/consent',
    login: 'http://127.0.0.1:3000/login',
    logout: 'http://127.0.0.1:3000/logout',
    device: { verification: 'http://127.0.0.1:3000/device/verify', success: 'http://127.0.0.1:3000/device/success' },
  },
  secrets: { system: ['youReallyNeedToChangeThis'] },
  oidc: { subject_identifiers: { supported_types: ['pairwise', 'public'], pairwise: { salt: 'youReallyNeedToChangeThis' } } },
};

describe('Hydra’s five-minute quickstart, started as its compose file starts it', () => {
  const quickstartDir = mkdtempSync(join(dir, 'quickstart-'));
  const config = join(quickstartDir, 'hydra.yml');
  writeFileSync(config, stringify(QUICKSTART));
  // Compose's DSN form: sqlite:// then an absolute path, with Hydra's query parameters.
  const dsnOf = (name: string) => `sqlite://${join(quickstartDir, name)}?_fk=true&mode=rwc`;

  it('migrates with `migrate -c hydra.yml sql up -e --yes`, serves with `serve -c hydra.yml all --dev`: discovery and a code flow', async () => {
    const dsn = dsnOf('db.sqlite');
    const migrated = await runCli(['migrate', '-c', config, 'sql', 'up', '-e', '--yes'], { DSN: dsn });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain('applied: 0001-init');

    // Ports come from the environment so that tests can run side by side; the file is Hydra's.
    const ports = { public: await freePort(), admin: await freePort() };
    const server = new CliProcess(['serve', '-c', config, 'all', '--dev'], { DSN: dsn, ...loopbackServeEnv(ports) });
    const node = { publicUrl: `http://127.0.0.1:${ports.public}`, adminUrl: `http://127.0.0.1:${ports.admin}` };
    await server.waitFor(`${node.adminUrl}/health/ready`, 200, 20_000, 50);

    const discovery = (await (await server.waitFor(`${node.publicUrl}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(discovery.issuer).toBe('http://127.0.0.1:4444');
    expect(discovery.subject_types_supported).toEqual(expect.arrayContaining(['pairwise', 'public']));

    const created = await admin(node, 'POST', '/admin/clients', {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      scope: 'openid offline_access',
      subject_type: 'pairwise',
    });
    expect(created.status).toBe(201);
    const client = { id: created.body.client_id as string, secret: created.body.client_secret as string };
    const flow = await new CodeFlow(client, 'openid offline_access', {
      login: QUICKSTART.urls.login,
      consent: QUICKSTART.urls.consent,
    }).finish(node);
    expect(flow.error).toBeUndefined();
    expect(flow.tokens?.access_token).toMatch(/^ory_at_/);
    expect(flow.tokens?.id_token).toEqual(expect.any(String));
    expect(flow.tokens?.refresh_token).toMatch(/^ory_rt_/);

    // Every key of the quickstart's file is one Portcullis has (the device URLs too): nothing is warned about.
    expect(server.stderr).not.toContain('is not implemented yet');
    server.child.kill('SIGTERM');
    await server.exit;
  }, 60_000);

  it('also migrates with the deprecated `migrate sql -e --yes` and `migrate sql <dsn>`', async () => {
    const fromEnv = await runCli(['migrate', 'sql', '-e', '--yes'], { DSN: dsnOf('env.sqlite') });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(fromEnv.stdout).toContain('applied: 0001-init');
    expect(fromEnv.stderr).toContain('deprecated');
    const fromArgument = await runCli(['migrate', 'sql', dsnOf('argument.sqlite')]);
    expect(fromArgument.code, fromArgument.stderr).toBe(0);
    expect(fromArgument.stdout).toContain('applied: 0001-init');
    const status = await runCli(['migrate', 'sql', 'status', dsnOf('argument.sqlite'), '--format', 'json']);
    expect((JSON.parse(status.stdout) as Array<{ applied: boolean }>).every((row) => row.applied)).toBe(true);
    // `-c` after `sql`, as before, still works.
    const after = await runCli(['migrate', 'sql', 'status', '-c', config, '--format', 'json'], { DSN: dsnOf('argument.sqlite') });
    expect(after.code, after.stderr).toBe(0);
  });

  it('stops `serve` with one line naming a refused key, from the environment', async () => {
    const result = await runCli(['serve', 'all', '--dev'], { DSN: 'memory', HSM_ENABLED: 'true' });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `invalid configuration: hsm.enabled (from environment variable HSM_ENABLED): ${HYDRA_KEYS['hsm.enabled']?.why}\n`,
    );
  });
});
