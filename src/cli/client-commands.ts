import { Command } from 'commander';
import type { ClientInput, ClientResponse } from '../client/model.js';
import { ADMIN_HELP, CliError, callAdmin, callAdminWithHeaders, type EndpointFlag, nextPageToken, withHttpFlags } from './admin-api.js';
import { readJsonSources } from './input.js';
import { type Columns, type OutputFlags, printIds, printPage, printRecord, printRecords } from './output.js';

export type Flags = EndpointFlag & OutputFlags & Record<string, unknown>;

/** What Hydra's `create oauth2-client` sends for the flags not given (its flag defaults). */
const CREATE_DEFAULTS: ClientInput = {
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  subject_type: 'public',
  request_object_signing_alg: 'RS256',
};

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
 * Client metadata Hydra does not have (RFC 9126 §6, RFC 9449 §5.2, the FAPI 2.0 profile), so neither
 * do its CLI's flags: Portcullis's own, each with a `--no-…` twin so that `update` can turn it off.
 */
const OWN_BOOLEAN_FLAGS: Array<[string, string, keyof ClientInput]> = [
  [
    '--require-pushed-authorization-requests',
    'authorization requests must be pushed first (PAR, RFC 9126; not a Hydra flag)',
    'require_pushed_authorization_requests',
  ],
  ['--dpop-bound-access-tokens', 'token requests must carry a DPoP proof (RFC 9449; not a Hydra flag)', 'dpop_bound_access_tokens'],
  ['--fapi2-security-profile', 'hold the client to the FAPI 2.0 Security Profile (not a Hydra flag)', 'fapi2_security_profile'],
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
  for (const [flag, help, field] of OWN_BOOLEAN_FLAGS) {
    // Commander leaves the value undefined unless one of the pair is given.
    if (!omit.has(field)) command.option(flag, help).option(flag.replace(/^--/, '--no-'), `unset ${flag}`);
  }
  if (!omit.has('metadata')) command.option('--metadata <json>', 'metadata as a JSON object');
  return command;
}

function clientOptions(command: Command): Command {
  return withHttpFlags(clientFieldOptions(command), ADMIN_HELP).option(
    '--file <file>',
    'read the client from this JSON file ("-" for stdin); the other client flags are then ignored',
  );
}

/** The client fields the given flags set. */
export function clientFromFlags(flags: Flags): ClientInput {
  const input: Record<string, unknown> = {};
  const camel = (flag: string) =>
    flag
      .replace(/^--/, '')
      .split(' ')[0]
      ?.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()) ?? '';
  for (const [flag, , field] of [...LIST_FLAGS, ...STRING_FLAGS, ...BOOLEAN_FLAGS, ...OWN_BOOLEAN_FLAGS]) {
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

/** Hydra's client columns, its lists joined as it joins them. */
export const CLIENT_COLUMNS: Columns<ClientResponse> = [
  ['CLIENT ID', (c) => c.client_id],
  ['CLIENT SECRET', (c) => c.client_secret],
  ['GRANT TYPES', (c) => c.grant_types?.join(', ')],
  ['RESPONSE TYPES', (c) => c.response_types?.join(', ')],
  ['SCOPE', (c) => c.scope],
  ['AUDIENCE', (c) => c.audience?.join(',')],
  ['REDIRECT URIS', (c) => c.redirect_uris?.join(', ')],
];

/** As Hydra: one client as `NAME  value` lines, several as rows under a header. */
function printClients(clients: ClientResponse[], flags: Flags): void {
  if (clients.length === 1) printRecord(clients[0] as ClientResponse, flags, CLIENT_COLUMNS);
  else printRecords(clients, flags, CLIENT_COLUMNS);
}

const path = (id: string) => `/admin/clients/${encodeURIComponent(id)}`;

/** The client `--file` holds (an object), or undefined without `--file`. */
async function clientFromFile(flags: Flags): Promise<ClientInput | undefined> {
  if (typeof flags.file !== 'string') return undefined;
  const [source] = await readJsonSources([flags.file]);
  const client = source?.value;
  if (client === null || typeof client !== 'object' || Array.isArray(client)) {
    throw new CliError(`${flags.file} must hold one client as a JSON object`);
  }
  return client as ClientInput;
}

/** `import client <files…>`: every client of every file (a JSON array, or one object) created; failures reported per file. */
async function importClients(files: string[], flags: Flags): Promise<void> {
  const imported: ClientResponse[] = [];
  const failed: string[] = [];
  for (const { source, value } of await readJsonSources(files.length ? files : ['-'])) {
    if (value === undefined) continue;
    for (const client of Array.isArray(value) ? value : [value]) {
      try {
        if (client === null || typeof client !== 'object' || Array.isArray(client)) throw new CliError('a client must be a JSON object');
        const created = await callAdmin<ClientResponse>(flags, 'POST', '/admin/clients', client);
        // As Hydra: a secret the file chose is shown back, the server only echoes those it generated.
        const secret = (client as ClientInput).client_secret;
        imported.push(created.client_secret === undefined && secret ? { ...created, client_secret: secret } : created);
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        failed.push(`${source}: ${error.message}`);
      }
    }
  }
  if (imported.length > 0 || failed.length === 0) printClients(imported, flags);
  if (failed.length > 0) throw new CliError(failed.join('\n'));
}

type ClientCommand = 'create' | 'get' | 'list' | 'update' | 'delete' | 'import';

/** The client commands with Hydra's names and aliases (`oauth2-client`, `client`, `clients`, `oauth2-clients`). */
export function clientCommands(): Record<ClientCommand, Command> {
  return {
    create: clientOptions(
      new Command('client')
        .alias('oauth2-client')
        .description(
          "Create an OAuth 2.0 client; flags not given get the defaults of Hydra's CLI (grant type authorization_code, response type code, client_secret_basic, subject type public, request object algorithm RS256)",
        ),
    ).action(async (flags: Flags) => {
      const fromFile = await clientFromFile(flags);
      const input = fromFile ?? { ...CREATE_DEFAULTS, ...clientFromFlags(flags) };
      if (fromFile && typeof flags.id === 'string') input.client_id = flags.id;
      printClients([await callAdmin<ClientResponse>(flags, 'POST', '/admin/clients', input)], flags);
    }),
    get: withHttpFlags(
      new Command('client')
        .aliases(['oauth2-client', 'clients', 'oauth2-clients'])
        .description('Show OAuth 2.0 clients')
        .argument('<id...>', 'client ids'),
      ADMIN_HELP,
    ).action(async (ids: string[], flags: Flags) => {
      const clients = await Promise.all(ids.map((id) => callAdmin<ClientResponse>(flags, 'GET', path(id))));
      printClients(clients, flags);
    }),
    list: withHttpFlags(new Command('clients').alias('oauth2-clients').description('List OAuth 2.0 clients'), ADMIN_HELP)
      .option('--page-size <n>', 'maximum number of clients to return', '100')
      .option('--page-token <token>', 'page token acquired from a previous response (its next_page_token)')
      .action(async (flags: Flags) => {
        const query = new URLSearchParams({ page_size: String(flags.pageSize) });
        if (flags.pageToken) query.set('page_token', String(flags.pageToken));
        const page = await callAdminWithHeaders<ClientResponse[]>(flags, 'GET', `/admin/clients?${query}`);
        printPage(page.value, nextPageToken(page.headers.link), flags, CLIENT_COLUMNS);
      }),
    update: clientOptions(
      new Command('client')
        .alias('oauth2-client')
        .description(
          'Change an OAuth 2.0 client: fields not given keep their values; with --file, the file replaces the client (fields it lacks get their defaults)',
        )
        .argument('<id>', 'client id'),
    ).action(async (id: string, flags: Flags) => {
      const fromFile = await clientFromFile(flags);
      let replacement: ClientInput;
      if (fromFile) replacement = { ...fromFile, client_id: id };
      else {
        const { client_secret: _unset, ...kept } = await callAdmin<ClientResponse>(flags, 'GET', path(id));
        replacement = { ...kept, ...clientFromFlags(flags), client_id: id };
      }
      const updated = await callAdmin<ClientResponse>(flags, 'PUT', path(id), replacement);
      // As Hydra: a secret the request set is shown back.
      const secret = replacement.client_secret;
      printClients([updated.client_secret === undefined && secret ? { ...updated, client_secret: secret } : updated], flags);
    }),
    delete: withHttpFlags(
      new Command('client')
        .aliases(['oauth2-client', 'clients', 'oauth2-clients'])
        .description('Delete OAuth 2.0 clients')
        .argument('<id...>', 'client ids'),
      ADMIN_HELP,
    ).action(async (ids: string[], flags: Flags) => {
      for (const id of ids) await callAdmin(flags, 'DELETE', path(id));
      printIds(ids, flags);
    }),
    import: withHttpFlags(
      new Command('client')
        .aliases(['oauth2-client', 'clients', 'oauth2-clients'])
        .description(
          'Create OAuth 2.0 clients from JSON files (each an array of clients, or one client) or stdin ("-", or no file); existing clients are not updated',
        )
        .argument('[files...]', 'JSON files ("-" for stdin)'),
      ADMIN_HELP,
    ).action(importClients),
  };
}
