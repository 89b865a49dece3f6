import { Command, Option } from 'commander';
import type { JWK } from 'jose';
import { GENERATABLE_ALGS } from '../jwk/generate.js';
import { callAdmin, type EndpointFlag } from './admin-api.js';
import { type FormatFlag, printRecords } from './output.js';

type Flags = EndpointFlag & FormatFlag & { alg?: string; use?: string; kid?: string; public?: boolean };

const COLUMNS: Array<[string, (key: JWK) => unknown]> = [
  ['KID', (k) => k.kid],
  ['ALG', (k) => k.alg],
  ['USE', (k) => k.use],
  ['KTY', (k) => k.kty],
  ['PRIVATE', (k) => ('d' in k || 'k' in k ? 'yes' : 'no')],
];

function withCommon(command: Command): Command {
  return command
    .option('-e, --endpoint <url>', 'admin API URL (default: ORY_SDK_URL or http://127.0.0.1:4445)')
    .option('--format <format>', 'table or json', 'table');
}

const path = (set: string) => `/admin/keys/${encodeURIComponent(set)}`;

/** Strips private members when only public keys are wanted. */
function shown(keys: JWK[], onlyPublic: boolean | undefined): JWK[] {
  if (!onlyPublic) return keys;
  return keys.filter((key) => key.kty !== 'oct').map(({ d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, k: _k, ...rest }) => rest);
}

export function jwkCommands(): Record<'create' | 'get' | 'delete', Command> {
  return {
    create: withCommon(
      new Command('jwk').alias('jwks').description('Generate a key into a JSON Web Key Set').argument('<set>', 'key set id'),
    )
      .addOption(new Option('--alg <alg>', 'algorithm').choices(GENERATABLE_ALGS).default('RS256'))
      .addOption(new Option('--use <use>', 'key use').choices(['sig', 'enc']).default('sig'))
      .option('--kid <kid>', 'key id (default: generated)')
      .option('--public', 'print only the public key')
      .action(async (set: string, flags: Flags) => {
        const body = { alg: flags.alg, use: flags.use, ...(flags.kid ? { kid: flags.kid } : {}) };
        const { keys } = await callAdmin<{ keys: JWK[] }>(flags, 'POST', path(set), body);
        printRecords(
          flags.format === 'json' ? ({ keys: shown(keys, flags.public) } as unknown as JWK) : shown(keys, flags.public),
          flags.format,
          COLUMNS,
        );
      }),
    get: withCommon(new Command('jwk').alias('jwks').description('Show a JSON Web Key Set').argument('<set>', 'key set id'))
      .option('--public', 'print only public keys')
      .action(async (set: string, flags: Flags) => {
        const { keys } = await callAdmin<{ keys: JWK[] }>(flags, 'GET', path(set));
        printRecords(
          flags.format === 'json' ? ({ keys: shown(keys, flags.public) } as unknown as JWK) : shown(keys, flags.public),
          flags.format,
          COLUMNS,
        );
      }),
    delete: withCommon(new Command('jwk').alias('jwks').description('Delete JSON Web Key Sets').argument('<set...>', 'key set ids')).action(
      async (sets: string[], flags: Flags) => {
        for (const set of sets) await callAdmin(flags, 'DELETE', path(set));
        process.stdout.write(flags.format === 'json' ? `${JSON.stringify(sets)}\n` : `${sets.join('\n')}\n`);
      },
    ),
  };
}
