import { createPrivateKey, createPublicKey, type KeyObject, randomUUID } from 'node:crypto';
import { Command, Option } from 'commander';
import { exportJWK, type JWK } from 'jose';
import { GENERATABLE_ALGS } from '../jwk/generate.js';
import { ADMIN_HELP, CliError, callAdmin, type EndpointFlag, withHttpFlags } from './admin-api.js';
import { readSources } from './input.js';
import { type Columns, type OutputFlags, output, printIds, printRecord, tableOf } from './output.js';

type Flags = EndpointFlag & OutputFlags & { alg?: string; use?: string; kid?: string; public?: boolean };

/** A key as the commands print it: Hydra adds the set it belongs to. */
type SetKey = JWK & { set: string };

/** Hydra's key columns. */
const COLUMNS: Columns<SetKey> = [
  ['SET ID', (k) => k.set],
  ['KEY ID', (k) => k.kid],
  ['ALGORITHM', (k) => k.alg],
  ['USE', (k) => k.use],
];

const path = (set: string) => `/admin/keys/${encodeURIComponent(set)}`;

/** Strips private members when only public keys are wanted (symmetric keys have none, so they go). */
function shown(keys: JWK[], onlyPublic: boolean | undefined): JWK[] {
  if (!onlyPublic) return keys;
  return keys.filter((key) => key.kty !== 'oct').map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, k: _k, ...rest }) => rest);
}

/** The keys of each set, each naming its set, as Hydra prints them. */
function setKeys(keysBySet: Array<[string, JWK[]]>, onlyPublic: boolean | undefined): SetKey[] {
  return keysBySet.flatMap(([set, list]) => shown(list, onlyPublic).map((key) => ({ ...key, set })));
}

/**
 * Prints keys as Hydra's key collection: `{"set": …, "keys": [{…, "set": …}]}` in the JSON formats
 * (the top-level set only when all keys are of one set), one row per key in the table, the key ids with -q.
 */
function printKeys(keysBySet: Array<[string, JWK[]]>, flags: Flags): void {
  const keys = setKeys(keysBySet, flags.public);
  const single = keysBySet.length === 1 ? keysBySet[0]?.[0] : undefined;
  output({ ...(single === undefined ? {} : { set: single }), keys }, flags, {
    ...tableOf(keys, COLUMNS),
    ids: keys.map((key) => key.kid ?? ''),
  });
}

/** A key file as Hydra's `import jwk` takes it: a JWK (or a JWK Set) as JSON, or a PEM/DER private or public key. */
async function keysOf(source: string, text: string, raw: Buffer): Promise<JWK[]> {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new CliError(`could not decode JSON from ${source}: ${(error as Error).message}`);
    }
    const keys = (parsed as { keys?: unknown }).keys;
    const list = Array.isArray(keys) ? keys : [parsed];
    if (!list.every((key) => key !== null && typeof key === 'object' && typeof (key as JWK).kty === 'string')) {
      throw new CliError(`${source} is not a JSON Web Key: a key needs "kty"`);
    }
    return list as JWK[];
  }
  const input = trimmed.startsWith('-----BEGIN') ? trimmed : raw;
  const attempts: Array<() => KeyObject> = [
    () => createPrivateKey(input),
    () => createPublicKey(input),
    () => createPrivateKey({ key: raw, format: 'der', type: 'pkcs8' }),
    () => createPrivateKey({ key: raw, format: 'der', type: 'pkcs1' }),
    () => createPrivateKey({ key: raw, format: 'der', type: 'sec1' }),
    () => createPublicKey({ key: raw, format: 'der', type: 'spki' }),
    () => createPublicKey({ key: raw, format: 'der', type: 'pkcs1' }),
  ];
  for (const attempt of attempts) {
    let key: KeyObject;
    try {
      key = attempt();
    } catch {
      continue;
    }
    return [await exportJWK(key)];
  }
  throw new CliError(`could not decode a key from ${source}: neither a JSON Web Key nor a PEM/DER private or public key`);
}

/** `import jwk <set> [files…]`: each key added to the set (PUT by kid), with `--use`/`--alg` for what the key lacks. */
async function importKeys(set: string, files: string[], flags: Flags): Promise<void> {
  const prepared: Array<[string, JWK]> = [];
  for (const { source, raw } of await readSources(files.length ? files : ['-'])) {
    for (const key of await keysOf(source, raw.toString('utf8'), raw)) {
      const alg = key.alg ?? flags.alg;
      if (!alg) throw new CliError(`--alg is required: the key from ${source} does not name its "alg"`);
      const use = key.use ?? flags.use;
      if (!use) throw new CliError(`--use is required: the key from ${source} does not name its "use"`);
      prepared.push([source, { ...key, kid: key.kid ?? randomUUID(), alg, use }]);
    }
  }
  const imported: JWK[] = [];
  const failed: string[] = [];
  for (const [source, key] of prepared) {
    try {
      imported.push(await callAdmin<JWK>(flags, 'PUT', `${path(set)}/${encodeURIComponent(key.kid as string)}`, key));
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      failed.push(`${source}: ${error.message}`);
    }
  }
  printKeys([[set, imported]], flags);
  if (failed.length > 0) throw new CliError(failed.join('\n'));
}

export function jwkCommands(): Record<'create' | 'get' | 'delete' | 'import', Command> {
  return {
    create: withHttpFlags(
      new Command('jwk')
        .alias('jwks')
        .description('Generate a key into a JSON Web Key Set')
        .argument('<set>', 'key set id')
        .argument('[kid]', 'key id (default: generated)'),
      ADMIN_HELP,
    )
      .addOption(new Option('--alg <alg>', 'algorithm').choices(GENERATABLE_ALGS).default('RS256'))
      .addOption(new Option('--use <use>', 'key use').choices(['sig', 'enc']).default('sig'))
      .option('--kid <kid>', 'key id, as the [kid] argument')
      .option('--public', 'print only the public key')
      .action(async (set: string, kidArgument: string | undefined, flags: Flags) => {
        if (kidArgument !== undefined && flags.kid !== undefined && kidArgument !== flags.kid) {
          throw new CliError('the [kid] argument and --kid name different key ids');
        }
        const kid = kidArgument ?? flags.kid;
        const body = { alg: flags.alg, use: flags.use, ...(kid ? { kid } : {}) };
        const { keys } = await callAdmin<{ keys: JWK[] }>(flags, 'POST', path(set), body);
        printKeys([[set, keys]], flags);
      }),
    get: withHttpFlags(
      new Command('jwk').alias('jwks').description('Show JSON Web Key Sets').argument('<set...>', 'key set ids'),
      ADMIN_HELP,
    )
      .option('--public', 'print only public keys')
      .action(async (sets: string[], flags: Flags) => {
        const found: Array<[string, JWK[]]> = [];
        for (const set of sets) found.push([set, (await callAdmin<{ keys: JWK[] }>(flags, 'GET', path(set))).keys]);
        // As Hydra's `get jwk`: one key is printed alone (its table as `NAME  value` lines, -q its set
        // id, Hydra's first column), no key prints nothing, several keys their collection.
        const keys = setKeys(found, flags.public);
        if (keys.length === 1) printRecord(keys[0] as SetKey, flags, COLUMNS);
        else if (keys.length > 1) printKeys(found, flags);
      }),
    delete: withHttpFlags(
      new Command('jwk').alias('jwks').description('Delete JSON Web Key Sets').argument('<set...>', 'key set ids'),
      ADMIN_HELP,
    ).action(async (sets: string[], flags: Flags) => {
      for (const set of sets) await callAdmin(flags, 'DELETE', path(set));
      printIds(sets, flags);
    }),
    import: withHttpFlags(
      new Command('jwk')
        .alias('jwks')
        .description(
          'Add keys to a JSON Web Key Set (created if missing) from files or stdin ("-", or no file): JSON Web Keys, or PEM/DER private or public keys',
        )
        .argument('<set>', 'key set id')
        .argument('[files...]', 'key files ("-" for stdin)'),
      ADMIN_HELP,
    )
      .option('--use <use>', 'the "use" of keys that do not name theirs (needed for PEM/DER)', 'sig')
      .option('--alg <alg>', 'the "alg" of keys that do not name theirs (needed for PEM/DER)')
      .action(importKeys),
  };
}
