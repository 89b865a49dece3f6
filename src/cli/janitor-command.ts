import { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { loadConfig } from '../config/load.js';
import { CliError } from './admin-api.js';
import { type FormatFlag, printTable, write } from './output.js';

interface JanitorFlags extends FormatFlag {
  config?: string;
  readFromEnv?: boolean;
  tokens?: boolean;
  requests?: boolean;
  grants?: boolean;
  limit: string;
  batchSize: string;
  keepIfYounger?: string;
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new CliError(`${flag} must be a positive integer`);
  return value;
}

/** `portcullis janitor [dsn]`: deletes expired and revoked tokens, ended sessions and expired jti entries, in batches. */
export function janitorCommand(): Command {
  return new Command('janitor')
    .description(
      'Delete expired and revoked tokens, ended login sessions, consent sessions without tokens, and expired JWT ids, in batches (all of them unless --tokens, --requests or --grants choose)',
    )
    .argument('[dsn]', 'data source (default: dsn from -c, or the DSN environment variable)')
    .option('-c, --config <file>', 'configuration file to read the dsn from')
    .option('-e, --read-from-env', 'read the dsn from the DSN environment variable (the default when none is given)')
    .option('--tokens', 'delete expired, revoked and used tokens')
    .option('--requests', 'delete ended login sessions and consent sessions no token belongs to')
    .option('--grants', 'delete expired JWT ids (client assertions and JWT-bearer grants seen)')
    .option('--limit <n>', 'most rows deleted per table', '10000')
    .option('--batch-size <n>', 'rows deleted per statement', '100')
    .option('--keep-if-younger <duration>', 'keep rows that expired or ended less than this long ago (e.g. 24h)', '0s')
    .option('--format <format>', 'table or json', 'table')
    .action(async (dsnArgument: string | undefined, flags: JanitorFlags) => {
      const limit = positiveInteger(flags.limit, '--limit');
      const batchSize = positiveInteger(flags.batchSize, '--batch-size');
      const keepIfYounger = flags.keepIfYounger === '0' ? 0 : parseDuration(flags.keepIfYounger ?? '0s');
      if (keepIfYounger === undefined) throw new CliError('--keep-if-younger must be a duration such as 1h30m');
      // Loaded on use: the database drivers are slow to import.
      const [{ openDatabase }, { SqlPersister }, { runJanitor, withDefaultTargets }] = await Promise.all([
        import('../persistence/database.js'),
        import('../persistence/persister.js'),
        import('../janitor/janitor.js'),
      ]);
      const dsn = dsnArgument ?? loadConfig({ ...(flags.config ? { file: flags.config } : {}), env: process.env }).dsn;
      const database = openDatabase(dsn);
      try {
        const result = await runJanitor(new SqlPersister(database.db), { ...withDefaultTargets(flags), limit, batchSize, keepIfYounger });
        if (flags.format === 'json') write(result);
        else
          printTable(
            ['TABLE', 'DELETED'],
            [
              ['oauth2_tokens', String(result.tokens)],
              ['login_sessions', String(result.loginSessions)],
              ['consent_sessions', String(result.consentSessions)],
              ['used_jtis', String(result.usedJtis)],
            ],
          );
      } finally {
        await database.close();
      }
    });
}
