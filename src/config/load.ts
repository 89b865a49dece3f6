import { readFileSync } from 'node:fs';
import { isIP, isIPv4 } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { isAbsoluteUri } from '../util/absolute-uri.js';
import { parseDuration } from './duration.js';
import { HYDRA_KEYS, hydraOnlyKeys, type KeyFate } from './hydra-keys.js';
import { type Config, envName, isLeaf, type Leaf, leaves, SCHEMA, type SchemaTree, URL_SHORTHANDS } from './schema.js';

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
  /**
   * Receives, once the configuration is valid, one line per Hydra key that is accepted without effect
   * and per environment variable that looks like a key but is none (see hydra-keys.ts).
   */
  onWarning?: (message: string) => void;
}

interface RawValue {
  value: unknown;
  source: string;
}

/** What a file and the environment set: keys of the schema, and Hydra's keys the schema lacks. */
interface Collected {
  schema: Map<string, RawValue>;
  hydra: Map<string, RawValue>;
  warnings: string[];
}

const HYDRA_ONLY: ReadonlyMap<string, KeyFate> = new Map(hydraOnlyKeys());
/** The dotted paths that hold Hydra-only keys (`urls.device`, `oauth2.token_hook`), so a file can be walked into them. */
const HYDRA_PARENTS: ReadonlySet<string> = new Set(
  [...HYDRA_ONLY.keys()].flatMap((key) => key.split('.').map((_, i, parts) => parts.slice(0, i).join('.'))).filter(Boolean),
);
const SCHEMA_BY_ENV: ReadonlyMap<string, string> = new Map([
  ...leaves().map(([key]): [string, string] => [envName(key), key]),
  // `OAUTH2_TOKEN_HOOK=<url>` sets the hook's URL, as Hydra reads it.
  ...[...URL_SHORTHANDS].map((key): [string, string] => [envName(key), `${key}.url`]),
]);
const HYDRA_ONLY_BY_ENV: ReadonlyMap<string, string> = new Map([...HYDRA_ONLY.keys()].map((key) => [envName(key), key]));
/**
 * Hydra keys that are objects of schema keys (`oauth2.device_authorization.user_code`): in the
 * environment their value is a JSON object of those keys, each set as if given alone.
 */
const OBJECT_KEYS_BY_ENV: ReadonlyMap<string, string> = new Map(
  Object.entries(HYDRA_KEYS)
    .filter(
      ([key, fate]) =>
        fate.fate === 'implemented' && !SCHEMA_BY_ENV.has(envName(key)) && leaves().some(([leaf]) => leaf.startsWith(`${key}.`)),
    )
    .map(([key]): [string, string] => [envName(key), key]),
);
/** `SERVE_`, `OAUTH2_`, `TTL_`…: the first segments of nested keys, ours and Hydra's. */
const KEY_ENV_PREFIXES: readonly string[] = [
  ...new Set(
    [...leaves().map(([key]) => key), ...Object.keys(HYDRA_KEYS)]
      .filter((key) => key.includes('.'))
      .map((key) => `${envName(key.split('.')[0] as string)}_`),
  ),
];
/** Variables that Hydra's client commands (`perform …`, `revoke token`) read: not configuration, and not a typo of it. */
const CLI_ENV: ReadonlySet<string> = new Set(['OAUTH2_CLIENT_ID', 'OAUTH2_CLIENT_SECRET']);

/** Defaults, then the file, then the environment, then flags; every value checked against the schema. */
export function loadConfig(options: LoadOptions = {}): Config {
  const collected: Collected = { schema: new Map(), hydra: new Map(), warnings: [] };
  if (options.file) collectFile(options.file, collected);
  collectEnv(options.env ?? {}, collected);
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    if (value !== undefined) collected.schema.set(key, { value, source: 'command line' });
  }
  applyHydraFates(collected);

  const config = {} as Record<string, unknown>;
  for (const [key, leaf] of leaves()) {
    const given = collected.schema.get(key);
    const value = given ? coerce(leaf, given.value, key, given.source) : structuredClone(leaf.default);
    setPath(config, key, value);
  }
  const finished = finish(config as unknown as Config);
  for (const warning of collected.warnings) options.onWarning?.(warning);
  return finished;
}

function collectEnv(env: Record<string, string | undefined>, collected: Collected): void {
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === '') continue;
    const source = `environment variable ${name}`;
    const key = SCHEMA_BY_ENV.get(name);
    const hydraKey = HYDRA_ONLY_BY_ENV.get(name);
    const objectKey = OBJECT_KEYS_BY_ENV.get(name);
    if (key !== undefined) collected.schema.set(key, { value, source });
    else if (hydraKey !== undefined) collected.hydra.set(hydraKey, { value, source });
    else if (objectKey !== undefined) collectEnvObject(objectKey, value, source, collected);
    else if (looksLikeKey(name)) {
      collected.warnings.push(`${source} matches no configuration key of Portcullis or Hydra and is ignored`);
    }
  }
}

/** A JSON object of an object key's leaves, from one environment variable; each leaf as if set alone. */
function collectEnvObject(key: string, value: string, source: string, collected: Collected): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (!isObject(parsed)) throw new ConfigError(`${key} (from ${source}): expected a JSON object of keys`);
  const names = new Set(leaves().map(([leaf]) => leaf));
  for (const [name, child] of Object.entries(parsed)) {
    if (!names.has(`${key}.${name}`)) throw new ConfigError(`${key}.${name} (from ${source}): unknown configuration key`);
    collected.schema.set(`${key}.${name}`, { value: child, source });
  }
}

/** Upper case and under a known first segment: a misspelt key, where `PATH` or `HOME` is not. */
function looksLikeKey(name: string): boolean {
  return /^[A-Z][A-Z0-9_]*$/.test(name) && !CLI_ENV.has(name) && KEY_ENV_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** Each Hydra-only key given: a warning, or (where ignoring it would be unsafe) the end of start-up. */
function applyHydraFates({ hydra, warnings }: Collected): void {
  for (const [key, { value, source }] of hydra) {
    const fate = HYDRA_ONLY.get(key) as KeyFate;
    const given = `${key} (from ${source})`;
    switch (fate.fate) {
      case 'refused':
        if (!fate.harmless?.test(value)) throw new ConfigError(`${given}: ${fate.why}`);
        warnings.push(`${given} is ignored: ${fate.harmless.why}`);
        break;
      case 'ignored':
        warnings.push(`${given} has no effect in Portcullis and is ignored: ${fate.why}`);
        break;
      case 'pending':
        warnings.push(`${given} is not implemented yet in Portcullis and is ignored: ${fate.why}`);
        break;
      case 'implemented':
        break;
    }
  }
}

function collectFile(file: string, collected: Collected): void {
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
  if (!isObject(document)) throw new ConfigError(`configuration file ${file} must hold an object of keys`);
  walkFile(document, SCHEMA, '', file, collected);
}

function walkFile(node: Record<string, unknown>, schema: SchemaTree, prefix: string, file: string, collected: Collected): void {
  for (const [name, value] of Object.entries(node)) {
    const key = prefix ? `${prefix}.${name}` : name;
    // Own keys only: `constructor` or `toString` in a file must not match Object.prototype.
    const def = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (def && isLeaf(def)) {
      collected.schema.set(key, { value, source: file });
    } else if (URL_SHORTHANDS.has(key) && typeof value === 'string') {
      collected.schema.set(`${key}.url`, { value, source: file });
    } else if (isObject(value) && (def || walksInto(key, value))) {
      walkFile(value, def ?? {}, key, file, collected);
    } else if (HYDRA_ONLY.has(key)) {
      collected.hydra.set(key, { value, source: file });
    } else if (!def && !HYDRA_PARENTS.has(key)) {
      throw new ConfigError(`${key} (from ${file}): unknown configuration key`);
    } else if (value !== null) {
      throw new ConfigError(`${key} (from ${file}): expected an object of keys`);
    }
  }
}

/**
 * Whether an object under a Hydra-only path is walked for the keys inside it. A key that is itself a
 * Hydra key and an object of them (`oauth2.token_hook`, a URL or `{url, auth}`) given as `{}` counts as set.
 */
function walksInto(key: string, value: Record<string, unknown>): boolean {
  return HYDRA_PARENTS.has(key) && !(HYDRA_ONLY.has(key) && Object.keys(value).length === 0);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
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
    case 'address': {
      if (typeof value !== 'string') return fail('expected a string');
      if (value !== '' && !isHostAndPort(value)) return fail('expected host:port, such as localhost:4318 or [::1]:4318');
      return value;
    }
    case 'number': {
      const number = typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
      if (typeof number !== 'number' || !Number.isFinite(number) || number < leaf.min || number > leaf.max) {
        return fail(`expected a number from ${leaf.min} to ${leaf.max}`);
      }
      return number;
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
      if (typeof value === 'string' && Object.hasOwn(GO_BOOLEANS, value)) return GO_BOOLEANS[value];
      return fail('expected true or false');
    }
    case 'duration': {
      const text = typeof value === 'string' ? value.trim() : undefined;
      // Hydra's schema takes `-1` as a string or, from YAML and JSON, as a number.
      if (leaf.allowNegative && (text === '-1' || text === '-1s' || value === -1)) return -1;
      const ms = text === undefined ? undefined : parseDuration(text);
      if (ms === undefined || ms < 0 || (leaf.positive && ms === 0)) {
        const range = leaf.positive ? ' longer than 0' : '';
        return fail(`expected a duration${range} such as 1h30m, 10m or 30s${leaf.allowNegative ? ' (or -1 for never)' : ''}`);
      }
      return ms;
    }
    case 'list': {
      const items = typeof value === 'string' ? listFromText(value) : value;
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
    case 'headers': {
      let headers = value;
      if (typeof value === 'string') {
        try {
          headers = JSON.parse(value);
        } catch {
          return fail('expected a JSON object of header names and values');
        }
      }
      if (!isObject(headers) || Object.values(headers).some((item) => typeof item !== 'string')) {
        return fail('expected an object of header names and string values');
      }
      const bad = Object.entries(headers).find(([name, item]) => !HEADER_NAME.test(name) || /[\r\n\0]/.test(item as string));
      if (bad) return fail(`"${bad[0]}" is not a valid HTTP header`);
      return { ...headers };
    }
    case 'enum': {
      const alias = typeof value === 'string' && leaf.aliases && Object.hasOwn(leaf.aliases, value) ? leaf.aliases[value] : undefined;
      if (alias !== undefined) return alias;
      if (typeof value !== 'string' || !leaf.values.includes(value)) {
        const aliases = Object.keys(leaf.aliases ?? {});
        return fail(`expected one of ${leaf.values.join(', ')}${aliases.length > 0 ? ` (or ${aliases.join(', ')})` : ''}`);
      }
      return value;
    }
  }
}

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The spellings of Go's `strconv.ParseBool`, which Hydra reads its environment with. */
const GO_BOOLEANS: Readonly<Record<string, boolean>> = {
  true: true,
  True: true,
  TRUE: true,
  t: true,
  T: true,
  '1': true,
  false: false,
  False: false,
  FALSE: false,
  f: false,
  F: false,
  '0': false,
};

/** A list in the environment: comma-separated, or (as Hydra also reads it) a JSON array. */
function listFromText(text: string): unknown {
  if (text.trimStart().startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed)) return parsed;
    } catch {
      // Not JSON: a comma-separated list whose first entry starts with `[`.
    }
  }
  return text.split(',');
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
  const notResource = config.oauth2.resource_indicators.allowed.find((resource) => !isAbsoluteUri(resource));
  if (notResource !== undefined) {
    throw new ConfigError(`oauth2.resource_indicators.allowed: "${notResource}" is not an absolute URI without a fragment (RFC 8707 §2)`);
  }
  // RFC 9126 §2.2: a request_uri is short-lived; the brief window is what makes a leaked urn useless.
  if (config.oauth2.pushed_authorization_requests.request_uri_lifespan > 600_000) {
    throw new ConfigError('oauth2.pushed_authorization_requests.request_uri_lifespan: at most 10m');
  }
  if (config.dev) config.serve.cookies.secure = false;
  return config;
}

/** A host name, IPv4 address or bracketed IPv6 address, then a port (the forms Hydra's schema allows for collector addresses). */
function isHostAndPort(value: string): boolean {
  const match =
    /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)):(\d{1,5})$/.exec(
      value,
    );
  if (!match) return false;
  return (match[1] === undefined || isIP(match[1]) === 6) && Number(match[3]) <= 65_535;
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
