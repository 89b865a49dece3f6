import { Command } from 'commander';
import type { ClientInput, ClientResponse } from '../client/model.js';
import { callAdmin, type EndpointFlag } from './admin-api.js';
import { type FormatFlag, printRecords } from './output.js';

export type Flags = EndpointFlag & FormatFlag & Record<string, unknown>;

/** Repeatable, comma-separated list flags (`--scope a,b --scope c`). */
const collect = (value: string, previous: string[] = []) => [
  ...previous,
  ...value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean),
];

/** CLI flag → client field, as Hydra's `create oauth2-client` names them. */
const LIST_FLAGS: Array<[string, string, keyof ClientInput]> = [
  ['--grant-type <type>', 'grant type (repeatable, comma-separated)', 'grant_types'],
  ['--response-type <type>', 'response type (repeatable)', 'response_types'],
  ['--audience <aud>', 'allowed audience (repeatable)', 'audience'],
  ['--redirect-uri <uri>', 'redirect URI (repeatable)', 'redirect_uris'],
  ['--post-logout-callback <uri>', 'post-logout redirect URI (repeatable)', 'post_logout_redirect_uris'],
  ['--allowed-cors-origin <origin>', 'allowed CORS origin (repeatable)', 'allowed_cors_origins'],
  ['--request-uri <uri>', 'request_uri (repeatable)', 'request_uris'],
  ['--contact <contact>', 'contact (repeatable)', 'contacts'],
];
const STRING_FLAGS: Array<[string, string, keyof ClientInput]> = [
  ['--id <id>', 'client id (default: generated)', 'client_id'],
  ['--name <name>', 'client name', 'client_name'],
  ['--secret <secret>', 'client secret (default: generated)', 'client_secret'],
  [
    '--token-endpoint-auth-method <method>',
    'client_secret_basic, client_secret_post, private_key_jwt or none',
    'token_endpoint_auth_method',
  ],
  ['--jwks-uri <uri>', 'JWKS URI for private_key_jwt', 'jwks_uri'],
  ['--subject-type <type>', 'public or pairwise', 'subject_type'],
  ['--sector-identifier-uri <uri>', 'sector identifier URI', 'sector_identifier_uri'],
  ['--request-object-signing-alg <alg>', 'request object signing algorithm', 'request_object_signing_alg'],
  ['--frontchannel-logout-callback <uri>', 'front-channel logout URI', 'frontchannel_logout_uri'],
  ['--backchannel-logout-callback <uri>', 'back-channel logout URI', 'backchannel_logout_uri'],
  ['--owner <owner>', 'owner', 'owner'],
  ['--policy-uri <uri>', 'policy URI', 'policy_uri'],
  ['--tos-uri <uri>', 'terms of service URI', 'tos_uri'],
  ['--client-uri <uri>', 'client home page', 'client_uri'],
  ['--logo-uri <uri>', 'logo URI', 'logo_uri'],
  ['--access-token-strategy <strategy>', 'jwt or opaque', 'access_token_strategy'],
  ['--userinfo-signed-response-alg <alg>', 'none or RS256', 'userinfo_signed_response_alg'],
];
const BOOLEAN_FLAGS: Array<[string, string, keyof ClientInput]> = [
  ['--frontchannel-logout-session-required', 'front-channel logout needs iss and sid', 'frontchannel_logout_session_required'],
  ['--backchannel-logout-session-required', 'back-channel logout needs sid', 'backchannel_logout_session_required'],
  ['--skip-consent', 'consent app may skip consent for this client', 'skip_consent'],
  ['--skip-logout-consent', 'logout app may skip logout confirmation', 'skip_logout_consent'],
];

/**
 * Adds the flags that set client fields, except those for the fields in `omit` (dynamic
 * registration leaves out what only the admin API may set).
 */
export function clientFieldOptions(command: Command, omit: ReadonlySet<keyof ClientInput> = new Set()): Command {
  for (const [flag, help, field] of LIST_FLAGS) if (!omit.has(field)) command.option(flag, help, collect);
  if (!omit.has('scope')) command.option('--scope <scope>', 'allowed scope (repeatable, comma- or space-separated)', collect);
  for (const [flag, help, field] of STRING_FLAGS) if (!omit.has(field)) command.option(flag, help);
  for (const [flag, help, field] of BOOLEAN_FLAGS) if (!omit.has(field)) command.option(flag, help);
  if (!omit.has('metadata')) command.option('--metadata <json>', 'metadata as a JSON object');
  return command;
}

function clientOptions(command: Command): Command {
  return withCommon(clientFieldOptions(command));
}

function withCommon(command: Command): Command {
  return command
    .option('-e, --endpoint <url>', 'admin API URL (default: ORY_SDK_URL or http://127.0.0.1:4445)')
    .option('--format <format>', 'table or json', 'table');
}

/** The client fields the given flags set. */
export function clientFromFlags(flags: Flags): ClientInput {
  const input: Record<string, unknown> = {};
  const camel = (flag: string) =>
    flag
      .replace(/^--/, '')
      .split(' ')[0]
      ?.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()) ?? '';
  for (const [flag, , field] of [...LIST_FLAGS, ...STRING_FLAGS, ...BOOLEAN_FLAGS]) {
    const value = flags[camel(flag)];
    if (value !== undefined) input[field] = value;
  }
  if (Array.isArray(flags.scope)) input.scope = (flags.scope as string[]).join(' ').split(/\s+/).join(' ');
  if (typeof flags.metadata === 'string') {
    try {
      input.metadata = JSON.parse(flags.metadata);
    } catch {
      throw new Error('--metadata must be a JSON object');
    }
  }
  return input as ClientInput;
}

export const CLIENT_COLUMNS: Array<[string, (client: ClientResponse) => unknown]> = [
  ['CLIENT ID', (c) => c.client_id],
  ['CLIENT SECRET', (c) => c.client_secret],
  ['NAME', (c) => c.client_name],
  ['GRANT TYPES', (c) => c.grant_types],
  ['RESPONSE TYPES', (c) => c.response_types],
  ['SCOPE', (c) => c.scope],
  ['AUDIENCE', (c) => c.audience],
  ['REDIRECT URIS', (c) => c.redirect_uris],
];

const path = (id: string) => `/admin/clients/${encodeURIComponent(id)}`;

export function clientCommands(): Record<'create' | 'get' | 'list' | 'update' | 'delete', Command> {
  return {
    create: clientOptions(new Command('client').alias('oauth2-client').description('Create an OAuth 2.0 client')).action(
      async (flags: Flags) => {
        printRecords(
          await callAdmin<ClientResponse>(flags, 'POST', '/admin/clients', clientFromFlags(flags)),
          flags.format,
          CLIENT_COLUMNS,
        );
      },
    ),
    get: withCommon(
      new Command('client').alias('oauth2-client').description('Show OAuth 2.0 clients').argument('<id...>', 'client ids'),
    ).action(async (ids: string[], flags: Flags) => {
      const clients = await Promise.all(ids.map((id) => callAdmin<ClientResponse>(flags, 'GET', path(id))));
      printRecords(clients.length === 1 ? (clients[0] as ClientResponse) : clients, flags.format, CLIENT_COLUMNS);
    }),
    list: withCommon(new Command('clients').alias('oauth2-clients').description('List OAuth 2.0 clients'))
      .option('--page-size <n>', 'clients per page', '250')
      .option('--page-token <token>', 'page token from a previous list')
      .action(async (flags: Flags) => {
        const query = new URLSearchParams({ page_size: String(flags.pageSize) });
        if (flags.pageToken) query.set('page_token', String(flags.pageToken));
        printRecords(await callAdmin<ClientResponse[]>(flags, 'GET', `/admin/clients?${query}`), flags.format, CLIENT_COLUMNS);
      }),
    update: clientOptions(
      new Command('client')
        .alias('oauth2-client')
        .description('Change an OAuth 2.0 client: fields not given keep their values')
        .argument('<id>', 'client id'),
    ).action(async (id: string, flags: Flags) => {
      const current = await callAdmin<ClientResponse>(flags, 'GET', path(id));
      const { client_secret: _unset, ...kept } = current;
      printRecords(
        await callAdmin<ClientResponse>(flags, 'PUT', path(id), { ...kept, ...clientFromFlags(flags), client_id: id }),
        flags.format,
        CLIENT_COLUMNS,
      );
    }),
    delete: withCommon(
      new Command('client').alias('oauth2-client').description('Delete OAuth 2.0 clients').argument('<id...>', 'client ids'),
    ).action(async (ids: string[], flags: Flags) => {
      for (const id of ids) await callAdmin(flags, 'DELETE', path(id));
      if (flags.format === 'json') process.stdout.write(`${JSON.stringify(ids)}\n`);
      else process.stdout.write(`${ids.join('\n')}\n`);
    }),
  };
}
