import { Command } from 'commander';
import { parseDuration } from '../config/duration.js';
import { loadConfig } from '../config/load.js';
import { CliError } from './admin-api.js';
import { type OutputFlags, output, withOutputFlags } from './output.js';

interface JanitorFlags extends OutputFlags {
  config?: string;
  readFromEnv?: boolean;
  tokens?: boolean;
  requests?: boolean;
  grants?: boolean;
  limit: string;
  batchSize: string;
  keepIfYounger?: string;
  accessLifespan?: string;
  refreshLifespan?: string;
  consentRequestLifespan?: string;
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new CliError(`${flag} must be a positive integer`);
  return value;
}

/** A duration flag (Go's form, e.g. 1h30m); undefined when not given or 0, as Hydra's zero default means "not set". */
function lifespan(text: string | undefined, flag: string): number | undefined {
  if (text === undefined || text === '0') return undefined;
  const value = parseDuration(text);
  if (value === undefined || value < 0) throw new CliError(`${flag} must be a duration such as 1h30m`);
  return value === 0 ? undefined : value;
}

/** `portcullis janitor [dsn]`: deletes expired and revoked tokens, ended sessions and expired jti entries, in batches. */
export function janitorCommand(): Command {
  const command = new Command('janitor')
    .description(
      'Delete expired and revoked tokens, ended login sessions, consent sessions without tokens, and expired JWT ids, in batches (all of them unless --tokens, --requests or --grants choose)',
    )
    .argument('[dsn]', 'data source (default: dsn from -c, or the DSN environment variable)')
    .option('-c, --config <file>', 'configuration file to read the dsn from')
    .option('-e, --read-from-env', 'read the dsn from the DSN environment variable (the default when none is given)')
    .option('--tokens', 'delete expired, revoked and used tokens, and expired device codes')
    .option('--requests', 'delete ended login sessions and consent sessions no token belongs to')
    .option('--grants', 'delete expired JWT ids (client assertions and JWT-bearer grants seen)')
    .option('--limit <n>', 'most rows deleted per table', '10000')
    .option('--batch-size <n>', 'rows deleted per statement', '100')
    .option('--keep-if-younger <duration>', 'keep rows that expired or ended less than this long ago (e.g. 24h)', '0s')
    .option('--access-lifespan <duration>', 'access tokens issued longer ago than this count as expired, whatever their expiry (e.g. 1h)')
    .option(
      '--refresh-lifespan <duration>',
      'refresh tokens issued longer ago than this count as expired, whatever their expiry (e.g. 720h)',
    )
    .option(
      '--consent-request-lifespan <duration>',
      "accepted for Hydra's command lines; no effect: Portcullis stores no unfinished login or consent requests (they travel sealed in the challenge)",
    );
  return withOutputFlags(command).action(async (dsnArgument: string | undefined, flags: JanitorFlags) => {
    const limit = positiveInteger(flags.limit, '--limit');
    const batchSize = positiveInteger(flags.batchSize, '--batch-size');
    const keepIfYounger = flags.keepIfYounger === '0' ? 0 : parseDuration(flags.keepIfYounger ?? '0s');
    if (keepIfYounger === undefined) throw new CliError('--keep-if-younger must be a duration such as 1h30m');
    const accessLifespan = lifespan(flags.accessLifespan, '--access-lifespan');
    const refreshLifespan = lifespan(flags.refreshLifespan, '--refresh-lifespan');
    lifespan(flags.consentRequestLifespan, '--consent-request-lifespan');
    const lifespans = {
      ...(accessLifespan === undefined ? {} : { access_token: accessLifespan }),
      ...(refreshLifespan === undefined ? {} : { refresh_token: refreshLifespan }),
    };
    // Loaded on use: the database drivers are slow to import.
    const [{ openDatabase }, { SqlPersister }, { runJanitor, withDefaultTargets }] = await Promise.all([
      import('../persistence/database.js'),
      import('../persistence/persister.js'),
      import('../janitor/janitor.js'),
    ]);
    const dsn = dsnArgument ?? loadConfig({ ...(flags.config ? { file: flags.config } : {}), env: process.env }).dsn;
    const database = openDatabase(dsn);
    try {
      const result = await runJanitor(new SqlPersister(database.db), {
        ...withDefaultTargets(flags),
        limit,
        batchSize,
        keepIfYounger,
        lifespans,
      });
      output(result, flags, {
        headers: ['TABLE', 'DELETED'],
        rows: [
          ['oauth2_tokens', String(result.tokens)],
          ['login_sessions', String(result.loginSessions)],
          ['consent_sessions', String(result.consentSessions)],
          ['used_jtis', String(result.usedJtis)],
          ['jwt_bearer_trusts', String(result.jwtBearerTrusts)],
          ['pushed_authorization_requests', String(result.pushedRequests)],
          ['device_codes', String(result.deviceCodes)],
        ],
      });
    } finally {
      await database.close();
    }
  });
}
