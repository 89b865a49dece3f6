import { Command } from 'commander';
import type { ClientInput, ClientResponse } from '../client/model.js';
import { CliError, PUBLIC_HELP, publicEndpoint, send, withHttpFlags } from './admin-api.js';
import { CLIENT_COLUMNS, clientFieldOptions, clientFromFlags, type Flags } from './client-commands.js';
import { printIds, printRecords } from './output.js';

/**
 * Dynamic client registration from the command line, against the public API: `register client`
 * (RFC 7591) and `get|update|delete registered-client` (RFC 7592, authenticated by the client's
 * registration access token). Hydra has no such commands; the flags are those of `create client`
 * without what only the admin API may set.
 */

type RegistrationFlags = Flags & { initialAccessToken?: string; registrationAccessToken?: string };

/** Fields the server chooses, or only the admin API may set: no flags for them here. */
const ADMIN_ONLY: ReadonlySet<keyof ClientInput> = new Set<keyof ClientInput>([
  'client_id',
  'client_secret',
  'metadata',
  'access_token_strategy',
  'skip_consent',
  'skip_logout_consent',
]);

/** What a read shows but a replacement does not take back. */
const READ_ONLY = [
  'client_secret',
  'registration_access_token',
  'registration_client_uri',
  'created_at',
  'updated_at',
  'metadata',
  'access_token_strategy',
  'skip_consent',
  'skip_logout_consent',
] as const;

const COLUMNS: Array<[string, (client: ClientResponse) => unknown]> = [
  ...CLIENT_COLUMNS.slice(0, 2),
  ['REGISTRATION ACCESS TOKEN', (c) => c.registration_access_token],
  ['NAME', (c) => c.client_name],
  ...CLIENT_COLUMNS.slice(2),
];

function registrationUrl(flags: RegistrationFlags, id?: string): string {
  return `${publicEndpoint(flags)}/oauth2/register${id === undefined ? '' : `/${encodeURIComponent(id)}`}`;
}

function registrationToken(flags: RegistrationFlags): string {
  const token = flags.registrationAccessToken ?? process.env.PORTCULLIS_REGISTRATION_ACCESS_TOKEN;
  if (!token) throw new CliError('--registration-access-token (or PORTCULLIS_REGISTRATION_ACCESS_TOKEN) is required');
  return token;
}

async function call(
  flags: RegistrationFlags,
  method: string,
  id: string | undefined,
  bearer: string | undefined,
  body?: unknown,
): Promise<ClientResponse | undefined> {
  const url = registrationUrl(flags, id);
  const headers: Record<string, string> = {};
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const text = await send(
    flags,
    url,
    { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) },
    `${method} ${new URL(url).pathname}`,
    `the public API at ${url}`,
  );
  return text ? (JSON.parse(text) as ClientResponse) : undefined;
}

function withCommon(command: Command): Command {
  return withHttpFlags(command, PUBLIC_HELP);
}

function withRegistrationToken(command: Command): Command {
  return command.option(
    '--registration-access-token <token>',
    'the registration access token the client got when registered or last updated (default: PORTCULLIS_REGISTRATION_ACCESS_TOKEN)',
  );
}

export function registrationCommands(): Record<'register' | 'get' | 'update' | 'delete', Command> {
  return {
    register: withCommon(
      clientFieldOptions(
        new Command('client')
          .alias('oauth2-client')
          .description('Register an OAuth 2.0 client by OpenID Connect Dynamic Client Registration (the server chooses id and secret)'),
        ADMIN_ONLY,
      ),
    )
      .option(
        '--initial-access-token <token>',
        'initial access token, when the server requires one (default: PORTCULLIS_INITIAL_ACCESS_TOKEN)',
      )
      .action(async (flags: RegistrationFlags) => {
        const initial = flags.initialAccessToken ?? process.env.PORTCULLIS_INITIAL_ACCESS_TOKEN;
        printRecords((await call(flags, 'POST', undefined, initial, clientFromFlags(flags))) as ClientResponse, flags, COLUMNS);
      }),

    get: withRegistrationToken(
      withCommon(new Command('registered-client').description('Show a dynamically registered client').argument('<id>', 'client id')),
    ).action(async (id: string, flags: RegistrationFlags) => {
      printRecords((await call(flags, 'GET', id, registrationToken(flags))) as ClientResponse, flags, COLUMNS);
    }),

    update: withRegistrationToken(
      withCommon(
        clientFieldOptions(
          new Command('registered-client')
            .description(
              'Change a dynamically registered client (fields not given keep their values); prints its new registration access token',
            )
            .argument('<id>', 'client id'),
          ADMIN_ONLY,
        ),
      ),
    ).action(async (id: string, flags: RegistrationFlags) => {
      const token = registrationToken(flags);
      const current = (await call(flags, 'GET', id, token)) as ClientResponse;
      const kept: Record<string, unknown> = { ...current };
      for (const field of READ_ONLY) delete kept[field];
      const replaced = await call(flags, 'PUT', id, token, { ...kept, ...clientFromFlags(flags), client_id: id });
      printRecords(replaced as ClientResponse, flags, COLUMNS);
    }),

    delete: withRegistrationToken(
      withCommon(new Command('registered-client').description('Delete a dynamically registered client').argument('<id>', 'client id')),
    ).action(async (id: string, flags: RegistrationFlags) => {
      await call(flags, 'DELETE', id, registrationToken(flags));
      printIds([id], flags);
    }),
  };
}
