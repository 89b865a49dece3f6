import { Command, Option } from 'commander';
import {
  ADMIN_HELP,
  adminAuthHeaders,
  adminEndpoint,
  CliError,
  callAdmin,
  type EndpointFlag,
  PUBLIC_HELP,
  publicEndpoint,
  send,
  withHttpFlags,
} from './admin-api.js';
import { type OutputFlags, output, printRecord } from './output.js';

export type TokenFlags = EndpointFlag & {
  clientId?: string;
  clientSecret?: string;
  scope?: string[];
  audience?: string[];
  authMethod?: 'client_secret_basic' | 'client_secret_post';
};

type Flags = TokenFlags & OutputFlags;

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
  refresh_token?: string;
  id_token?: string;
}

/** Prints a token response; its table as Hydra's (name and value lines, `<empty>` for a token not issued). */
export function printTokens(tokens: TokenResponse, flags: OutputFlags): void {
  const receivedAt = Date.now();
  printRecord(tokens, flags, [
    ['ACCESS TOKEN', (t) => t.access_token],
    ['REFRESH TOKEN', (t) => t.refresh_token ?? '<empty>'],
    ['ID TOKEN', (t) => t.id_token ?? '<empty>'],
    ['EXPIRY', (t) => (t.expires_in === undefined ? undefined : new Date(receivedAt + t.expires_in * 1000).toISOString())],
  ]);
}

interface Introspection {
  active: boolean;
  sub?: string;
  client_id?: string;
  scope?: string;
  exp?: number;
  token_use?: string;
}

/** Repeatable, comma- or space-separated list flags (`--scope a,b --scope c`). */
export const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(/[\s,]+/).filter(Boolean)];

/** Client credentials as HTTP Basic (each part form-encoded first, RFC 6749 §2.3.1) or in the body. */
export function authenticate(flags: Flags, form: URLSearchParams, headers: Record<string, string>): void {
  if (!flags.clientId) throw new CliError('--client-id is required');
  if (!flags.clientSecret) throw new CliError('--client-secret is required');
  if (flags.authMethod === 'client_secret_post') {
    form.set('client_id', flags.clientId);
    form.set('client_secret', flags.clientSecret);
    return;
  }
  const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
  headers.authorization = `Basic ${Buffer.from(`${encode(flags.clientId)}:${encode(flags.clientSecret)}`).toString('base64')}`;
}

/** POSTs a form and returns the response text; an error answer becomes a CliError with its OAuth error. */
export function postForm(flags: EndpointFlag, url: string, form: URLSearchParams, headers: Record<string, string> = {}): Promise<string> {
  return send(
    flags,
    url,
    { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form.toString() },
    `POST ${new URL(url).pathname}`,
  );
}

/**
 * `--client-id` and `--client-secret`, from OAUTH2_CLIENT_ID and OAUTH2_CLIENT_SECRET when not given
 * (as Hydra), and `--auth-method` (default `client_secret_basic`, unless the command says otherwise).
 */
export function clientFlags(
  command: Command,
  defaultAuthMethod: 'client_secret_basic' | 'client_secret_post' = 'client_secret_basic',
): Command {
  return command
    .addOption(new Option('--client-id <id>', 'the OAuth 2.0 client id').env('OAUTH2_CLIENT_ID'))
    .addOption(new Option('--client-secret <secret>', 'the OAuth 2.0 client secret').env('OAUTH2_CLIENT_SECRET'))
    .addOption(
      new Option('--auth-method <method>', 'how the client authenticates')
        .choices(['client_secret_basic', 'client_secret_post'])
        .default(defaultAuthMethod),
    );
}

export function tokenCommands(): Record<'performClientCredentials' | 'introspect' | 'revoke' | 'deleteAccessTokens', Command> {
  return {
    performClientCredentials: withHttpFlags(
      clientFlags(new Command('client-credentials').description('Get an access token with the OAuth 2.0 client credentials grant')),
      PUBLIC_HELP,
    )
      .option('--scope <scope>', 'scope to request (repeatable, comma-separated)', collect)
      .option('--audience <aud>', 'audience to request (repeatable, comma-separated)', collect)
      .action(async (flags: Flags) => {
        const form = new URLSearchParams({ grant_type: 'client_credentials' });
        if (flags.scope?.length) form.set('scope', flags.scope.join(' '));
        for (const audience of flags.audience ?? []) form.append('audience', audience);
        const headers: Record<string, string> = {};
        authenticate(flags, form, headers);
        const token = JSON.parse(await postForm(flags, `${publicEndpoint(flags)}/oauth2/token`, form, headers)) as TokenResponse;
        printTokens(token, flags);
      }),

    introspect: withHttpFlags(
      new Command('token').description('Introspect an access or refresh token').argument('<token>', 'the token'),
      ADMIN_HELP,
    )
      .option('--scope <scope>', 'scope the token must have been granted (repeatable, comma-separated)', collect)
      .action(async (token: string, flags: Flags) => {
        const form = new URLSearchParams({ token });
        if (flags.scope?.length) form.set('scope', flags.scope.join(' '));
        const result = JSON.parse(
          await postForm(flags, `${adminEndpoint(flags)}/admin/oauth2/introspect`, form, adminAuthHeaders()),
        ) as Introspection;
        printRecord(result, flags, [
          ['ACTIVE', (r) => r.active],
          ['SUBJECT', (r) => r.sub],
          ['CLIENT ID', (r) => r.client_id],
          ['SCOPE', (r) => r.scope],
          ['EXPIRY', (r) => (r.exp === undefined ? undefined : new Date(r.exp * 1000).toISOString())],
          ['TOKEN USE', (r) => r.token_use],
        ]);
      }),

    revoke: withHttpFlags(
      clientFlags(new Command('token').description('Revoke an access or refresh token (and its grant)').argument('<token>', 'the token')),
      PUBLIC_HELP,
    ).action(async (token: string, flags: Flags) => {
      const form = new URLSearchParams({ token });
      const headers: Record<string, string> = {};
      authenticate(flags, form, headers);
      await postForm(flags, `${publicEndpoint(flags)}/oauth2/revoke`, form, headers);
      output({ revoked: token }, flags, { rows: [[token]] });
    }),

    deleteAccessTokens: withHttpFlags(
      new Command('access-tokens').description('Delete every access token of an OAuth 2.0 client').argument('<client-id>', 'the client id'),
      ADMIN_HELP,
    ).action(async (clientId: string, flags: Flags) => {
      await callAdmin(flags, 'DELETE', `/admin/oauth2/tokens?${new URLSearchParams({ client_id: clientId })}`);
      output(clientId, flags, { rows: [[clientId]] });
    }),
  };
}
