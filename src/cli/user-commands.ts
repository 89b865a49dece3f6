import { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { NewUser, User, UserClaims, UserStore } from '../identity/user-store.js';
import { databaseErrorKind } from '../persistence/errors.js';
import type { Persister } from '../persistence/persister.js';
import { type OutputFlags, output, tableOf, withOutputFlags } from './output.js';

/**
 * `portcullis users create|list|delete`: the identity UI's people, managed in the database directly
 * (like `migrate`), with the dsn from `-c` or the DSN environment variable.
 */

interface UserFlags extends OutputFlags, Record<string, unknown> {
  config?: string;
}

/** CLI flag → standard claim (OpenID Connect Core §5.1). */
const CLAIM_FLAGS: Array<[string, string, keyof UserClaims]> = [
  ['--name <name>', 'full name', 'name'],
  ['--given-name <name>', 'given (first) name', 'given_name'],
  ['--family-name <name>', 'family (last) name', 'family_name'],
  ['--middle-name <name>', 'middle name', 'middle_name'],
  ['--nickname <name>', 'casual name', 'nickname'],
  ['--preferred-username <name>', 'name shown to applications (default: the username)', 'preferred_username'],
  ['--picture <url>', 'profile picture URL', 'picture'],
  ['--profile <url>', 'profile page URL', 'profile'],
  ['--website <url>', 'web page or blog URL', 'website'],
  ['--gender <gender>', 'gender', 'gender'],
  ['--birthdate <date>', 'birthday, YYYY-MM-DD (or YYYY)', 'birthdate'],
  ['--zoneinfo <zone>', 'time zone, e.g. Europe/Paris', 'zoneinfo'],
  ['--locale <locale>', 'locale, e.g. en-US', 'locale'],
  ['--phone-number <number>', 'phone number, e.g. +1 555 0100', 'phone_number'],
];
const ADDRESS_FLAGS: Array<[string, string, string]> = [
  ['--street-address <street>', 'address: street', 'street_address'],
  ['--locality <city>', 'address: city or locality', 'locality'],
  ['--region <region>', 'address: state, province or region', 'region'],
  ['--postal-code <code>', 'address: postal code', 'postal_code'],
  ['--country <country>', 'address: country', 'country'],
];

const camel = (flag: string) => (flag.replace(/^--/, '').split(' ')[0] ?? '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

function claimsFromFlags(flags: UserFlags): UserClaims {
  const claims: Record<string, unknown> = {};
  for (const [flag, , claim] of CLAIM_FLAGS) {
    const value = flags[camel(flag)];
    if (typeof value === 'string') claims[claim] = value;
  }
  const address: Record<string, string> = {};
  for (const [flag, , field] of ADDRESS_FLAGS) {
    const value = flags[camel(flag)];
    if (typeof value === 'string') address[field] = value;
  }
  if (Object.keys(address).length > 0) claims.address = address;
  if (flags.emailVerified) claims.email_verified = true;
  if (flags.phoneNumberVerified) claims.phone_number_verified = true;
  return claims as UserClaims;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // `echo secret | …` and here-strings add one newline: it is not part of the password.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Opens the configured database, runs `work` with a user store and the persister over it, and closes it. */
async function withUsers<T>(flags: UserFlags, work: (users: UserStore, persister: Persister) => Promise<T>): Promise<T> {
  // Loaded on use: the database drivers are slow to import and only these actions need them.
  const [{ openDatabase }, { SqlUserStore }, { SqlPersister }] = await Promise.all([
    import('../persistence/database.js'),
    import('../identity/user-store.js'),
    import('../persistence/persister.js'),
  ]);
  const dsn = loadConfig({ ...(flags.config ? { file: flags.config } : {}), env: process.env }).dsn;
  const database = openDatabase(dsn);
  try {
    return await work(new SqlUserStore(database.db), new SqlPersister(database.db));
  } catch (error) {
    if (databaseErrorKind(error) === 'missing-table') {
      throw new Error(`the users table does not exist in ${database.location}: run \`portcullis migrate sql up\` first`);
    }
    throw error;
  } finally {
    await database.close();
  }
}

const COLUMNS: Array<[string, (user: User) => unknown]> = [
  ['ID', (u) => u.id],
  ['USERNAME', (u) => u.username],
  ['EMAIL', (u) => u.email],
  ['NAME', (u) => u.claims.name],
  ['CREATED AT', (u) => u.createdAt.toISOString()],
];

/** A user as `--format json` prints it: the stored record, never the password hash. */
const record = (user: User) => ({
  id: user.id,
  username: user.username,
  email: user.email ?? null,
  claims: user.claims,
  created_at: user.createdAt.toISOString(),
  updated_at: user.updatedAt.toISOString(),
});

function common(command: Command): Command {
  return command.option('-c, --config <file>', 'configuration file to read the dsn from (default: the DSN environment variable)');
}

export function userCommands(): Command {
  const create = common(new Command('create').description('Create a person who can sign in through the identity UI'))
    .requiredOption('--username <username>', 'username: letters, digits, dots, dashes, underscores (stored lower-cased)')
    .option('--email <email>', 'email address; also accepted at sign-in')
    .option('--password <password>', 'password, at least 8 characters (visible to other users of this machine: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--email-verified', 'the email address has been verified')
    .option('--phone-number-verified', 'the phone number has been verified');
  for (const [flag, help] of [...CLAIM_FLAGS, ...ADDRESS_FLAGS]) create.option(flag, help);
  withOutputFlags(create).action(async (flags: UserFlags) => {
    if (flags.password !== undefined && flags.passwordStdin) throw new Error('give --password or --password-stdin, not both');
    const password = flags.passwordStdin ? await readStdin() : flags.password;
    if (typeof password !== 'string') throw new Error('a password is required: --password-stdin (or --password)');
    const input: NewUser = {
      username: String(flags.username),
      email: typeof flags.email === 'string' ? flags.email : undefined,
      password,
      claims: claimsFromFlags(flags),
    };
    const user = await withUsers(flags, (users) => users.create(input));
    output(record(user), flags, tableOf([user], COLUMNS));
  });

  const list = withOutputFlags(common(new Command('list').description('List the people who can sign in'))).action(
    async (flags: UserFlags) => {
      const users = await withUsers(flags, (store) => store.list());
      output(users.map(record), flags, tableOf(users, COLUMNS));
    },
  );

  const remove = withOutputFlags(
    common(
      new Command('delete')
        .description('Delete people, with their login sessions, consents and the tokens issued under them')
        .argument('<user...>', 'usernames, emails or ids'),
    ),
  ).action(async (names: string[], flags: UserFlags) => {
    const deleted = await withUsers(flags, async (users, persister) => {
      const found: User[] = [];
      // Every name is resolved before anything is deleted: a typo deletes nobody.
      for (const name of names) {
        const user = (await users.findById(name)) ?? (await users.findByLogin(name));
        if (!user) throw new Error(`no user "${name}"`);
        found.push(user);
      }
      for (const user of found) {
        // What Hydra's DELETE /admin/oauth2/auth/sessions/login?subject= and …/consent?subject=&all=true
        // do (deleting a consent deletes its tokens), so nothing issued to the person outlives them.
        // Back-channel logout is not sent: this command talks to the database, not to a running server.
        await persister.transaction(async ({ sessions }) => {
          await sessions.deleteLoginSessionsOfSubject(user.id);
          await sessions.deleteConsents(user.id);
        });
        await users.delete(user.id);
      }
      return found;
    });
    const ids = deleted.map((u) => u.id);
    output(ids, flags, { rows: flags.quiet ? ids.map((id) => [id]) : deleted.map((u) => [`deleted ${u.username} (${u.id})`]) });
  });

  return new Command('users')
    .description('Manage the identity UI’s users in the database')
    .addCommand(create)
    .addCommand(list)
    .addCommand(remove);
}
