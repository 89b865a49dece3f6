import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../src/config/duration.js';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { envName, leaves } from '../src/config/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const dev = { overrides: { dev: true } };

function failure(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('has Hydra’s defaults', () => {
    const config = loadConfig(dev);
    expect(config.serve.public.port).toBe(4444);
    expect(config.serve.admin.port).toBe(4445);
    expect(config.ttl.access_token).toBe(3_600_000);
    expect(config.ttl.refresh_token).toBe(720 * 3_600_000);
    expect(config.ttl.auth_code).toBe(600_000);
    expect(config.ttl.login_consent_request).toBe(1_800_000);
    expect(config.strategies.access_token).toBe('opaque');
    expect(config.strategies.scope).toBe('wildcard');
    expect(config.oidc.dynamic_client_registration.enabled).toBe(false);
    expect(config.oidc.dynamic_client_registration.default_scope).toEqual(['offline_access', 'offline', 'openid']);
    expect(config.oauth2.hashers.algorithm).toBe('pbkdf2');
    expect(config.oauth2.hashers.pbkdf2.iterations).toBe(25_000);
    expect(config.serve.cookies.names.session).toBe('ory_hydra_session');
    expect(config.urls.self.issuer).toBe('http://localhost:4444/');
    expect(config.urls.self.public).toBe('http://localhost:4444/');
  });

  it('names environment variables by the upper-cased key path', () => {
    expect(envName('oidc.dynamic_client_registration.enabled')).toBe('OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED');
    const config = loadConfig({
      ...dev,
      env: {
        DSN: 'memory',
        URLS_SELF_ISSUER: 'https://auth.example/',
        SECRETS_SYSTEM: 'first-secret-0123456789, second-secret-0123456789',
        SERVE_PUBLIC_PORT: '8080',
        SERVE_ADMIN_PORT: '8081',
        TTL_ACCESS_TOKEN: '1h30m',
        OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'true',
        STRATEGIES_ACCESS_TOKEN: 'jwt',
        TTL_REFRESH_TOKEN: '-1',
      },
    });
    expect(config.dsn).toBe('memory');
    expect(config.urls.self.issuer).toBe('https://auth.example/');
    expect(config.urls.self.public).toBe('https://auth.example/');
    expect(config.secrets.system).toEqual(['first-secret-0123456789', 'second-secret-0123456789']);
    expect(config.serve.public.port).toBe(8080);
    expect(config.serve.admin.port).toBe(8081);
    expect(config.ttl.access_token).toBe(5_400_000);
    expect(config.ttl.refresh_token).toBe(-1);
    expect(config.oidc.dynamic_client_registration.enabled).toBe(true);
    expect(config.strategies.access_token).toBe('jwt');
  });

  it('reads YAML and JSON files; environment beats file, flags beat both', () => {
    const yaml = file(
      'c.yaml',
      'serve:\n  public:\n    port: 9000\n  admin:\n    port: 9001\nttl:\n  auth_code: 5m\nlog:\n  level: warn\n',
    );
    const fromFile = loadConfig({ ...dev, file: yaml });
    expect(fromFile.serve.public.port).toBe(9000);
    expect(fromFile.ttl.auth_code).toBe(300_000);
    expect(fromFile.log.level).toBe('warn');
    const layered = loadConfig({ file: yaml, env: { SERVE_PUBLIC_PORT: '9100' }, overrides: { dev: true, 'log.level': 'error' } });
    expect(layered.serve.public.port).toBe(9100);
    expect(layered.serve.admin.port).toBe(9001);
    expect(layered.log.level).toBe('error');
    const json = file(
      'c.json',
      JSON.stringify({ oidc: { subject_identifiers: { supported_types: ['public', 'pairwise'], pairwise: { salt: 'a-long-salt' } } } }),
    );
    expect(loadConfig({ ...dev, file: json }).oidc.subject_identifiers.supported_types).toEqual(['public', 'pairwise']);
  });

  it.each([
    [
      { SERVE_PUBLIC_PORT: 'abc' },
      'serve.public.port (from environment variable SERVE_PUBLIC_PORT): expected an integer from 0 to 65535, got "abc"',
    ],
    [{ SERVE_ADMIN_PORT: '70000' }, 'serve.admin.port'],
    [{ TTL_ACCESS_TOKEN: 'an hour' }, 'ttl.access_token'],
    [{ TTL_ACCESS_TOKEN: '-1' }, 'ttl.access_token'],
    // issue 12 #6: no lifetime may mean "never" by accident: 0 is refused for every ttl (Hydra's explicit -1 for refresh tokens stays).
    [{ TTL_ACCESS_TOKEN: '0s' }, 'ttl.access_token (from environment variable TTL_ACCESS_TOKEN): expected a duration longer than 0'],
    [{ TTL_REFRESH_TOKEN: '0' }, 'ttl.refresh_token'],
    [{ TTL_ID_TOKEN: '0s' }, 'ttl.id_token'],
    [{ TTL_AUTH_CODE: '0s' }, 'ttl.auth_code'],
    [
      { STRATEGIES_ACCESS_TOKEN: 'magic' },
      'strategies.access_token (from environment variable STRATEGIES_ACCESS_TOKEN): expected one of opaque, jwt',
    ],
    [{ OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: 'maybe' }, 'oidc.dynamic_client_registration.enabled'],
    [{ URLS_LOGIN: 'not a url' }, 'urls.login'],
    [{ OIDC_SUBJECT_IDENTIFIERS_SUPPORTED_TYPES: 'public,secret' }, 'oidc.subject_identifiers.supported_types'],
    [{ OIDC_SUBJECT_IDENTIFIERS_SUPPORTED_TYPES: 'pairwise' }, 'oidc.subject_identifiers.pairwise.salt'],
    [{ OAUTH2_GRANT_REFRESH_TOKEN_ROTATION_GRACE_PERIOD: '10m' }, 'rotation_grace_period'],
    [{ OAUTH2_PUSHED_AUTHORIZATION_REQUESTS_REQUEST_URI_LIFESPAN: '11m' }, 'request_uri_lifespan: at most 10m'],
    [{ OAUTH2_PUSHED_AUTHORIZATION_REQUESTS_REQUEST_URI_LIFESPAN: '0s' }, 'oauth2.pushed_authorization_requests.request_uri_lifespan'],
  ])('stops on a bad value with one line naming the key: %j', (env, expected) => {
    expect(failure(() => loadConfig({ ...dev, env }))).toContain(expected);
  });

  it('never prints secret values in errors', () => {
    const message = failure(() => loadConfig({ ...dev, env: { SECRETS_SYSTEM: 'too-short' } }));
    expect(message).toContain('secrets.system');
    expect(message).not.toContain('too-short');
  });

  it('rejects unknown keys and malformed files', () => {
    expect(failure(() => loadConfig({ ...dev, file: file('u.yaml', 'serve:\n  publik:\n    port: 1\n') }))).toContain('serve.publik');
    expect(failure(() => loadConfig({ ...dev, file: file('bad.yaml', 'serve: [\n') }))).toContain('not valid YAML');
    expect(failure(() => loadConfig({ ...dev, file: join(dir, 'missing.yaml') }))).toContain('cannot read');
    expect(failure(() => loadConfig({ ...dev, file: file('t.yaml', 'serve:\n  public:\n    port: "x"\n') }))).toContain(
      'serve.public.port',
    );
  });

  it('requires https outside development mode, except on loopback', () => {
    expect(loadConfig({}).urls.self.issuer).toBe('https://localhost:4444/');
    expect(failure(() => loadConfig({ env: { URLS_SELF_ISSUER: 'http://auth.example/' } }))).toContain('urls.self.issuer');
    expect(loadConfig({ env: { URLS_SELF_ISSUER: 'http://127.0.0.1:4444/' } }).urls.self.issuer).toBe('http://127.0.0.1:4444/');
    expect(loadConfig({ env: { URLS_SELF_ISSUER: 'http://auth.example/' }, ...dev }).serve.cookies.secure).toBe(false);
  });

  it('documents every key', () => {
    for (const [key, leaf] of leaves()) expect(leaf.description.length, key).toBeGreaterThan(10);
  });
});

describe('durations', () => {
  it.each([
    ['1h30m', 5_400_000],
    ['10m', 600_000],
    ['1.5s', 1500],
    ['300ms', 300],
    ['720h', 2_592_000_000],
    ['0', 0],
    ['1h0m0s', 3_600_000],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'h', '1 h', '1d', 'soon', '1h-5m'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it.each([
    [3_600_000, '1h0m0s'],
    [5_400_000, '1h30m0s'],
    [90_000, '1m30s'],
    [1500, '1.5s'],
    [500, '500ms'],
    [0, '0s'],
    [2_592_000_000, '720h0m0s'],
  ])('formats %d ms as Go does: %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
