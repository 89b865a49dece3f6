import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { type OutputFlags, output, tableOf, withOutputFlags } from './output.js';

interface MigrateFlags extends OutputFlags {
  config?: string;
  readFromEnv?: boolean;
  steps?: string;
  yes?: boolean;
  block?: boolean;
}

/** How often `status --block` looks again, as Hydra's. */
const BLOCK_POLL_MS = 1000;
const BLOCK_HELP = 'with status: wait until no migration is pending';

const ACTIONS = ['up', 'down', 'status'] as const;
type Action = (typeof ACTIONS)[number];

const isAction = (word: string): word is Action => (ACTIONS as readonly string[]).includes(word);
/** `memory` or `scheme:…`: what Hydra's deprecated `migrate sql <database_url>` takes in the place of the action. */
const isDsn = (word: string) => word === 'memory' || word.includes(':');

/**
 * `portcullis migrate [-c file] sql up|down|status [dsn]`, and Hydra's deprecated `migrate sql [dsn]`
 * (no action: up). `-c` is read before or after `sql`, as Hydra's compose file writes
 * `migrate -c hydra.yml sql up -e --yes`.
 */
export function migrateCommand(): Command {
  const sqlCommand = withOutputFlags(new Command('sql'))
    .description('Apply, revert or list the SQL migrations (without an action, as Hydra’s deprecated form: up)')
    .argument('[action]', 'up, down or status (default: up, deprecated)')
    .argument('[dsn]', 'data source (default: dsn from -c, or the DSN environment variable)')
    .option('-e, --read-from-env', 'read the dsn from the DSN environment variable or -c (the default when none is given)')
    .option('--steps <n>', 'with down: how many migrations to revert', '1')
    .option('-y, --yes', 'do not ask for confirmation (migrations never ask)')
    .option('--block', BLOCK_HELP)
    .action(async (first: string | undefined, second: string | undefined, _flags: MigrateFlags, command: Command) => {
      const flags = command.optsWithGlobals<MigrateFlags>();
      let action: Action = 'up';
      let dsnArgument = second;
      if (first !== undefined && isAction(first)) action = first;
      else if (first !== undefined && second === undefined && isDsn(first)) dsnArgument = first;
      else if (first !== undefined) {
        command.error(
          `error: command-argument value '${first}' is invalid for argument 'action'. Allowed choices are ${ACTIONS.join(', ')}.`,
        );
      }
      if (first === undefined || dsnArgument === first) {
        process.stderr.write('`migrate sql` without an action is deprecated: use `migrate sql up`\n');
      }
      await migrate(action, dsnArgument, flags);
    });
  // Hydra's deprecated `hydra migrate status`, kept for the scripts (and init containers, with --block) that call it.
  const statusCommand = withOutputFlags(new Command('status'))
    .description('Show which SQL migrations are applied (deprecated, as Hydra’s: use `migrate sql status`)')
    .argument('[dsn]', 'data source (default: dsn from -c, or the DSN environment variable)')
    .option('-e, --read-from-env', 'read the dsn from the DSN environment variable or -c (the default when none is given)')
    .option('--block', BLOCK_HELP)
    .action(async (dsnArgument: string | undefined, _flags: MigrateFlags, command: Command) => {
      process.stderr.write('`migrate status` is deprecated: use `migrate sql status`\n');
      await migrate('status', dsnArgument, command.optsWithGlobals<MigrateFlags>());
    });
  return new Command('migrate')
    .description('Database migrations')
    .option('-c, --config <file>', 'configuration file to read the dsn from (before or after `sql`)')
    .addCommand(sqlCommand)
    .addCommand(statusCommand);
}

/** Runs one migration action on the data source named, else the configured one. */
async function migrate(action: Action, dsnArgument: string | undefined, flags: MigrateFlags): Promise<void> {
  // Loaded on use: the database drivers are slow to import and only this action needs them.
  const [{ openDatabase }, { migrateDown, migrateUp, migrationStatus }] = await Promise.all([
    import('../persistence/database.js'),
    import('../persistence/migrator.js'),
  ]);
  const dsn = dsnArgument ?? loadConfig({ ...(flags.config ? { file: flags.config } : {}), env: process.env }).dsn;
  const database = openDatabase(dsn);
  try {
    if (action === 'status') {
      let rows = await migrationStatus(database);
      // --block, as Hydra's: look again every second while any is pending, naming them on stderr.
      for (let pending = rows.filter((r) => !r.applied); flags.block && pending.length > 0; pending = rows.filter((r) => !r.applied)) {
        process.stderr.write(`Waiting for migrations to finish...\n${pending.map((r) => ` - ${r.name}\n`).join('')}`);
        await new Promise((resolve) => setTimeout(resolve, BLOCK_POLL_MS));
        rows = await migrationStatus(database);
      }
      output(
        rows,
        flags,
        tableOf(rows, [
          ['MIGRATION', (r) => r.name],
          ['STATUS', (r) => (r.applied ? 'applied' : 'pending')],
          ['APPLIED AT', (r) => r.appliedAt?.toISOString()],
        ]),
      );
      return;
    }
    const steps = Number(flags.steps ?? 1);
    const names =
      action === 'up' ? await migrateUp(database) : await migrateDown(database, Number.isInteger(steps) && steps > 0 ? steps : 1);
    const verb = action === 'up' ? 'applied' : 'reverted';
    const summary = names.length === 0 ? `nothing to do (${database.location})` : `${verb}: ${names.join(', ')} (${database.location})`;
    output({ [verb]: names }, flags, { rows: flags.quiet ? names.map((name) => [name]) : [[summary]] });
  } finally {
    await database.close();
  }
}
