import { createServer, type Server } from 'node:http';
import { Command, InvalidArgumentError } from 'commander';
import { type Answer, CliError, PUBLIC_HELP, publicEndpoint, sendForAnswer, withHttpFlags } from './admin-api.js';
import { loginConsentPages } from './login-consent-pages.js';
import type { OutputFlags } from './output.js';
import { authenticate, clientFlags, collect, printTokens, type TokenFlags, type TokenResponse } from './token-commands.js';

type Flags = TokenFlags &
  OutputFlags & {
    deviceAuthUrl?: string;
    tokenUrl?: string;
    port?: number;
    adminEndpoint?: string;
  };

/** RFC 8628 §3.2. */
interface DeviceAuthorization {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval?: number;
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** Hydra's `-p`: a port, or -1 (its default) for no page server. */
function port(text: string): number {
  const value = Number(text);
  if (text === '-1') return -1;
  if (!/^[0-9]+$/.test(text) || value > 65_535) throw new InvalidArgumentError('must be a port number, or -1 for none');
  return value;
}

/** The OAuth error of an error answer (`error: description`), or its status and text when it is not one. */
function oauthError(answer: Answer): { code: string; message: string } {
  try {
    const parsed = JSON.parse(answer.text) as { error?: unknown; error_description?: unknown };
    if (typeof parsed.error === 'string') {
      const description = typeof parsed.error_description === 'string' ? parsed.error_description : '';
      return { code: parsed.error, message: description ? `${parsed.error}: ${description}` : parsed.error };
    }
  } catch {
    // not JSON
  }
  return { code: '', message: `status ${answer.status}: ${answer.text.slice(0, 500)}` };
}

/**
 * `portcullis perform device-code`: the device authorization grant (RFC 8628) as a device runs it,
 * with Hydra's flags and output: it asks for a device code, prints where to sign in (stderr), polls
 * the token endpoint at the interval the server names (5 s more after each `slow_down`, §3.5) until
 * the person is done or the code expires, and prints the tokens (stdout). With `-p <port>` it also
 * serves a code-entry page at `http://127.0.0.1:<port>/device` (and Hydra's `/device/done`, with the
 * example login and consent pages beside them), answering through the admin API at `--admin-endpoint`.
 */
export function deviceCodeCommand(): Command {
  return withHttpFlags(
    // Hydra's command sends the secret in the body ("the client MUST use none or client_secret_post").
    clientFlags(new Command('device-code').description('Get tokens with the OAuth 2.0 device authorization grant'), 'client_secret_post'),
    PUBLIC_HELP,
  )
    .option('--scope <scope>', 'scope to request (repeatable, comma-separated; default: offline,openid, as Hydra)', collect)
    .option('--audience <aud>', 'audience to request (repeatable, comma-separated)', collect)
    .option('--device-auth-url <url>', 'device authorization endpoint (default: <endpoint>/oauth2/device/auth)')
    .option('--token-url <url>', 'token endpoint (default: <endpoint>/oauth2/token)')
    .option(
      '-p, --port <port>',
      'serve a code-entry page on http://127.0.0.1:<port>/device (point urls.device.verification there); -1: none',
      port,
    )
    .option('--admin-endpoint <url>', 'admin API URL the code-entry page calls (default: PORTCULLIS_ADMIN_URL or http://127.0.0.1:4445)')
    .action(async (flags: Flags) => {
      if (!flags.clientId) throw new CliError('--client-id (or OAUTH2_CLIENT_ID) is required');
      const clientId = flags.clientId;
      const deviceAuthUrl = flags.deviceAuthUrl ?? `${publicEndpoint(flags)}/oauth2/device/auth`;
      const tokenUrl = flags.tokenUrl ?? `${publicEndpoint(flags)}/oauth2/token`;
      const pages = flags.port !== undefined && flags.port >= 0 ? await servePages(flags, flags.port) : undefined;
      try {
        const post = (url: string, form: URLSearchParams) => {
          const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
          if (flags.clientSecret) authenticate(flags, form, headers);
          else form.set('client_id', clientId);
          return sendForAnswer(flags, url, { method: 'POST', headers, body: form.toString() });
        };

        const request = new URLSearchParams({ scope: (flags.scope ?? ['offline', 'openid']).join(' ') });
        if (flags.audience?.length) request.set('audience', flags.audience.join(' '));
        const answer = await post(deviceAuthUrl, request);
        if (answer.status !== 200) {
          throw new CliError(`Failed to perform the device authorization request: ${oauthError(answer).message}`);
        }
        const device = JSON.parse(answer.text) as DeviceAuthorization;
        if (typeof device.device_code !== 'string' || typeof device.expires_in !== 'number') {
          throw new CliError('Failed to perform the device authorization request: the answer has no device_code or expires_in');
        }
        // Hydra's line, byte for byte (Go's Fprintln puts a space between its two parts).
        process.stderr.write(`To login please go to:\n\t ${device.verification_uri_complete ?? device.verification_uri}\n`);

        const tokens = await poll(device, (form) => post(tokenUrl, form));
        process.stderr.write('Successfully signed in!\n');
        printTokens(tokens, flags);
      } finally {
        pages?.closeAllConnections();
        pages?.close();
      }
    });
}

/** Polls the token endpoint as RFC 8628 §3.4-3.5 says, until tokens, an error, or the code's expiry. */
async function poll(device: DeviceAuthorization, post: (form: URLSearchParams) => Promise<Answer>): Promise<TokenResponse> {
  let interval = typeof device.interval === 'number' && device.interval > 0 ? device.interval : 5;
  const deadline = Date.now() + device.expires_in * 1000;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, interval * 1000));
    if (Date.now() > deadline) throw new CliError('Failed to perform the device token request: the device code expired');
    const answer = await post(new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: device.device_code }));
    if (answer.status === 200) return JSON.parse(answer.text) as TokenResponse;
    const error = oauthError(answer);
    if (error.code === 'authorization_pending') continue;
    if (error.code === 'slow_down') {
      interval += 5;
      continue;
    }
    throw new CliError(`Failed to perform the device token request: ${error.message}`);
  }
}

/** The code-entry page (and the example login and consent pages) on 127.0.0.1:<port>, as Hydra's `-p`. */
function servePages(flags: Flags, port: number): Promise<Server> {
  const pages = loginConsentPages(
    { ...flags, endpoint: flags.adminEndpoint ?? process.env.PORTCULLIS_ADMIN_URL ?? 'http://127.0.0.1:4445' },
    false,
  );
  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (!(await pages(request, response, url))) response.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error) => reject(new CliError(`could not start the page server on port ${port}: ${error.message}`)));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
