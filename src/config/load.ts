import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from './duration.js';
import { type Config, envName, isLeaf, type Leaf, leaves, SCHEMA, type SchemaTree } from './schema.js';

/** A configuration problem; its message is one line naming the key and what is wrong. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadOptions {
  /** A YAML or JSON file (`-c`). */
  file?: string;
  /** Environment to read `SERVE_PUBLIC_PORT`-style variables from. */
  env?: Record<string, string | undefined>;
  /** Values from command-line flags, by dotted key; they win over everything else. */
  overrides?: Record<string, unknown>;
}

interface RawValue {
  value: unknown;
  source: string;
}

/** Defaults, then the file, then the environment, then flags; every value checked against the schema. */
export function loadConfig(options: LoadOptions = {}): Config {
  const raw = new Map<string, RawValue>();
  if (options.file) collectFile(options.file, raw);
  const env = options.env ?? {};
  for (const [key] of leaves()) {
    const value = env[envName(key)];
    if (value !== undefined && value !== '') raw.set(key, { value, source: `environment variable ${envName(key)}` });
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value !== undefined) raw.set(key, { value, source: 'command line' });
  }

  const config = {} as Record<string, unknown>;
  for (const [key, leaf] of leaves()) {
    const given = raw.get(key);
    const value = given ? coerce(leaf, given.value, key, given.source) : structuredClone(leaf.default);
    setPath(config, key, value);
  }
  return finish(config as unknown as Config);
}

function collectFile(file: string, raw: Map<string, RawValue>): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read configuration file ${file}: ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`configuration file ${file} is not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  if (document === null || document === undefined) return;
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(`configuration file ${file} must hold an object of keys`);
  }
  walkFile(document as Record<string, unknown>, SCHEMA, '', file, raw);
}

function walkFile(node: Record<string, unknown>, schema: SchemaTree, prefix: string, file: string, raw: Map<string, RawValue>): void {
  for (const [name, value] of Object.entries(node)) {
    const key = prefix ? `${prefix}.${name}` : name;
    // Own keys only: `constructor` or `toString` in a file must not match Object.prototype.
    const def = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!def) throw new ConfigError(`${key} (from ${file}): unknown configuration key`);
    if (isLeaf(def)) {
      raw.set(key, { value, source: file });
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      walkFile(value as Record<string, unknown>, def, key, file, raw);
    } else if (value !== null) {
      throw new ConfigError(`${key} (from ${file}): expected an object of keys`);
    }
  }
}

function coerce(leaf: Leaf, value: unknown, key: string, source: string): unknown {
  const fail = (problem: string): never => {
    const shown = leaf.secret ? '' : `, got ${JSON.stringify(value)}`;
    throw new ConfigError(`${key} (from ${source}): ${problem}${shown}`);
  };
  switch (leaf.kind) {
    case 'string':
    case 'url': {
      if (typeof value !== 'string') return fail('expected a string');
      if (leaf.kind === 'url' && value !== '' && !isHttpUrl(value)) return fail('expected an absolute http(s) URL');
      if (leaf.minLength !== undefined && value !== '' && value.length < leaf.minLength) {
        return fail(`expected at least ${leaf.minLength} characters`);
      }
      return value;
    }
    case 'integer': {
      const number = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
      if (typeof number !== 'number' || !Number.isInteger(number) || number < leaf.min || number > leaf.max) {
        return fail(`expected an integer from ${leaf.min} to ${leaf.max}`);
      }
      return number;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      return fail('expected true or false');
    }
    case 'duration': {
      const text = typeof value === 'string' ? value.trim() : undefined;
      if (leaf.allowNegative && (text === '-1' || text === '-1s')) return -1;
      const ms = text === undefined ? undefined : parseDuration(text);
      if (ms === undefined || ms < 0 || (leaf.positive && ms === 0)) {
        const range = leaf.positive ? ' longer than 0' : '';
        return fail(`expected a duration${range} such as 1h30m, 10m or 30s${leaf.allowNegative ? ' (or -1 for never)' : ''}`);
      }
      return ms;
    }
    case 'list': {
      const items = typeof value === 'string' ? value.split(',') : value;
      if (!Array.isArray(items) || items.some((item) => typeof item !== 'string')) {
        return fail('expected a list of strings (comma-separated in the environment)');
      }
      const clean = (items as string[]).map((item) => item.trim()).filter((item) => item !== '');
      const { itemsOneOf, minItemLength } = leaf;
      if (itemsOneOf) {
        const bad = clean.find((item) => !itemsOneOf.includes(item));
        if (bad !== undefined) return fail(`"${bad}" is not one of ${itemsOneOf.join(', ')}`);
      }
      if (minItemLength !== undefined && clean.some((item) => item.length < minItemLength)) {
        return fail(`every entry needs at least ${minItemLength} characters`);
      }
      return clean;
    }
    case 'enum': {
      if (typeof value !== 'string' || !leaf.values.includes(value)) return fail(`expected one of ${leaf.values.join(', ')}`);
      return value;
    }
  }
}

/** Derived defaults and rules that span keys. */
function finish(config: Config): Config {
  const scheme = config.dev ? 'http' : 'https';
  if (!config.urls.self.issuer) config.urls.self.issuer = `${scheme}://localhost:${config.serve.public.port}/`;
  if (!config.urls.self.public) config.urls.self.public = config.urls.self.issuer;
  if (!config.urls.self.admin) config.urls.self.admin = `http://localhost:${config.serve.admin.port}/`;
  if (!config.dev && new URL(config.urls.self.issuer).protocol !== 'https:' && !isLoopback(config.urls.self.issuer)) {
    throw new ConfigError('urls.self.issuer: must use https outside development mode (start with --dev to allow http)');
  }
  const pairwise = config.oidc.subject_identifiers.supported_types.includes('pairwise');
  if (pairwise && config.oidc.subject_identifiers.pairwise.salt.length < 8) {
    throw new ConfigError('oidc.subject_identifiers.pairwise.salt: needs at least 8 characters when pairwise subjects are supported');
  }
  if (config.oidc.subject_identifiers.supported_types.length === 0) {
    throw new ConfigError('oidc.subject_identifiers.supported_types: must name at least one subject type');
  }
  if (config.oauth2.grant.refresh_token.rotation_grace_period > 300_000) {
    throw new ConfigError('oauth2.grant.refresh_token.rotation_grace_period: at most 5m');
  }
  if (config.dev) config.serve.cookies.secure = false;
  return config;
}

function isHttpUrl(value: string): boolean {
  try {
    const parsed = new URL(value);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * `localhost`, `[::1]` or an IPv4 address in 127.0.0.0/8. The host must BE an address there: a name
 * that merely starts with `127.` (`127.attacker.example`) resolves wherever its owner likes.
 */
function isLoopback(value: string): boolean {
  const host = new URL(value).hostname;
  return host === 'localhost' || host === '[::1]' || (isIPv4(host) && host.startsWith('127.'));
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}
