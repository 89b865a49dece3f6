import { Argument, Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { type FormatFlag, printTable, write } from './output.js';

interface MigrateFlags extends FormatFlag {
  config?: string;
  readFromEnv?: boolean;
  steps?: string;
  yes?: boolean;
}

/** `portcullis migrate sql up|down|status [dsn]`. */
export function migrateCommand(): Command {
  const sqlCommand = new Command('sql')
    .description('Apply, revert or list the SQL migrations')
    .addArgument(new Argument('<action>', 'up, down or status').choices(['up', 'down', 'status']))
    .argument('[dsn]', 'data source (default: dsn from -c, or the DSN environment variable)')
    .option('-c, --config <file>', 'configuration file to read the dsn from')
    .option('-e, --read-from-env', 'read the dsn from the DSN environment variable (the default when none is given)')
    .option('--steps <n>', 'with down: how many migrations to revert', '1')
    .option('-y, --yes', 'do not ask for confirmation (migrations never ask)')
    .option('--format <format>', 'table or json', 'table')
    .action(async (action: 'up' | 'down' | 'status', dsnArgument: string | undefined, flags: MigrateFlags) => {
      // Loaded on use: the database drivers are slow to import and only this action needs them.
      const [{ openDatabase }, { migrateDown, migrateUp, migrationStatus }] = await Promise.all([
        import('../persistence/database.js'),
        import('../persistence/migrator.js'),
      ]);
      const dsn = dsnArgument ?? loadConfig({ ...(flags.config ? { file: flags.config } : {}), env: process.env }).dsn;
      const database = openDatabase(dsn);
      try {
        if (action === 'status') {
          const rows = await migrationStatus(database);
          if (flags.format === 'json') write(rows);
          else
            printTable(
              ['MIGRATION', 'STATUS', 'APPLIED AT'],
              rows.map((r) => [r.name, r.applied ? 'applied' : 'pending', r.appliedAt?.toISOString() ?? '']),
            );
          return;
        }
        const steps = Number(flags.steps ?? 1);
        const names =
          action === 'up' ? await migrateUp(database) : await migrateDown(database, Number.isInteger(steps) && steps > 0 ? steps : 1);
        const verb = action === 'up' ? 'applied' : 'reverted';
        if (flags.format === 'json') write({ [verb]: names });
        else
          process.stdout.write(
            names.length === 0 ? `nothing to do (${database.location})\n` : `${verb}: ${names.join(', ')} (${database.location})\n`,
          );
      } finally {
        await database.close();
      }
    });
  return new Command('migrate').description('Database migrations').addCommand(sqlCommand);
}
