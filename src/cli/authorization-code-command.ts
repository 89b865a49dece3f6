import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CliError, PUBLIC_HELP, publicEndpoint, withHttpFlags } from './admin-api.js';
import { loginConsentPages, readForm } from './login-consent-pages.js';
import type { OutputFlags } from './output.js';
import { selfSignedCertificate } from './self-signed.js';
import { authenticate, clientFlags, collect, postForm, printTokens, type TokenFlags, type TokenResponse } from './token-commands.js';

type Flags = TokenFlags &
  OutputFlags & {
    port: number;
    redirect?: string;
    prompt?: string[];
    maxAge?: string;
    timeout: string;
    open: boolean;
    shutdown: boolean;
    state?: string;
    authUrl?: string;
    tokenUrl?: string;
    https?: boolean;
    responseMode?: string;
    skip?: boolean;
    adminEndpoint?: string;
  };

const random = () => randomBytes(32).toString('base64url');

function port(text: string): number {
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || value > 65_535) throw new InvalidArgumentError('must be a port number');
  return value;
}

/** One authorization request: what the callback must match and the token request needs. */
interface Attempt {
  url: string;
  state: string;
  verifier: string;
}

/**
 * `portcullis perform authorization-code`: the authorization code flow with PKCE, as a client would
 * run it, with Hydra's flags. It starts a callback server on 127.0.0.1 (its `/` redirects to the
 * authorization URL, opened in a browser unless `--no-open`), waits for the browser to come back and
 * exchanges the code. The URLs and progress go to stderr, the tokens to stdout. With `--no-shutdown`
 * it keeps serving: each finished flow prints its tokens and a new state, nonce and verifier are drawn.
 * It also serves an example login and consent app at `/login` and `/consent` (login-consent-pages.ts).
 */
export function authorizationCodeCommand(): Command {
  return withHttpFlags(
    clientFlags(new Command('authorization-code').description('Get tokens with the authorization code flow and PKCE')),
    PUBLIC_HELP,
  )
    .option('-p, --port <port>', 'port of the local callback server', port, 4446)
    .option('--redirect <uri>', 'redirect URI registered for the client (default: http(s)://127.0.0.1:<port>/callback)')
    .option('--scope <scope>', 'scope to request (repeatable, comma-separated; default: offline,openid, as Hydra)', collect)
    .option('--audience <aud>', 'audience to request (repeatable, comma-separated)', collect)
    .option('--prompt <prompt>', 'prompt parameter (none, login, consent, select_account; repeatable, comma-separated)', collect)
    .option('--max-age <seconds>', 'max_age parameter')
    .option('--state <state>', 'use this state instead of a random one (insecure: for tests only)')
    .option('--auth-url <url>', 'authorization endpoint (default: <endpoint>/oauth2/auth)')
    .option('--token-url <url>', 'token endpoint (default: <endpoint>/oauth2/token)')
    .addOption(new Option('--response-mode <mode>', 'response_mode parameter').choices(['query', 'form_post']))
    .option('--https', 'serve the callback over HTTPS with a self-signed certificate made at start')
    .option(
      '--skip',
      'accept login and consent requests the server marks skip without showing the pages (when urls.login and urls.consent point at this server)',
    )
    .option(
      '--admin-endpoint <url>',
      'admin API URL the login and consent pages call (default: PORTCULLIS_ADMIN_URL or http://127.0.0.1:4445)',
    )
    .option('--no-open', 'do not open the browser')
    .option('--no-shutdown', 'keep serving after a flow ends (success or error), with a new state each time')
    .option('--timeout <seconds>', 'how long to wait for the browser (ignored with --no-shutdown)', '300')
    .action(async (flags: Flags) => {
      if (!flags.clientId) throw new CliError('--client-id (or OAUTH2_CLIENT_ID) is required');
      const clientId = flags.clientId;
      const scheme = flags.https ? 'https' : 'http';
      const home = `${scheme}://127.0.0.1:${flags.port}/`;
      const redirect = new URL(flags.redirect ?? `${home}callback`);
      const authUrl = flags.authUrl ?? `${publicEndpoint(flags)}/oauth2/auth`;
      const tokenUrl = flags.tokenUrl ?? `${publicEndpoint(flags)}/oauth2/token`;

      const begin = (): Attempt => {
        const verifier = random();
        const state = flags.state ?? random();
        const query = new URLSearchParams({
          response_type: 'code',
          client_id: clientId,
          redirect_uri: redirect.toString(),
          scope: (flags.scope ?? ['offline', 'openid']).join(' '),
          state,
          nonce: random(),
          code_challenge: createHash('sha256').update(verifier).digest('base64url'),
          code_challenge_method: 'S256',
        });
        if (flags.audience?.length) query.set('audience', flags.audience.join(' '));
        if (flags.prompt?.length) query.set('prompt', flags.prompt.join(' '));
        if (flags.maxAge) query.set('max_age', flags.maxAge);
        if (flags.responseMode) query.set('response_mode', flags.responseMode);
        const url = `${authUrl}${authUrl.includes('?') ? '&' : '?'}${query}`;
        process.stderr.write(`Open this URL in a browser to sign in:\n\n${url}\n\n(or ${home})\nWaiting for the callback on ${redirect}\n`);
        return { url, state, verifier };
      };

      const exchange = async (attempt: Attempt, code: string): Promise<void> => {
        const form = new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: redirect.toString(),
          code_verifier: attempt.verifier,
        });
        const headers: Record<string, string> = {};
        if (flags.clientSecret) authenticate(flags, form, headers);
        else form.set('client_id', clientId);
        const tokens = JSON.parse(await postForm(flags, tokenUrl, form, headers)) as TokenResponse;
        printTokens(tokens, flags);
      };

      await serveCallbacks(flags, redirect.pathname, begin, exchange, () => {
        if (flags.open) openBrowser(home);
      });
    });
}

/** Opens the URL in the desktop's browser; where there is none, the printed URL is all there is. */
function openBrowser(url: string): void {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(command, args as string[], { stdio: 'ignore', detached: true });
    child.once('error', () => {});
    child.unref();
  } catch {
    // no browser launcher: ignore, as Hydra does
  }
}

/** The callback's parameters: the query string, or the form body of a `form_post` response. */
function callbackParameters(request: IncomingMessage, url: URL): Promise<URLSearchParams> {
  return request.method === 'POST' ? readForm(request) : Promise.resolve(url.searchParams);
}

/**
 * Serves `/` (a redirect to the current authorization URL) and the redirect URI until a flow ends, or
 * forever with `--no-shutdown`; resolves when done, rejects with the flow's error.
 */
function serveCallbacks(
  flags: Flags,
  path: string,
  begin: () => Attempt,
  exchange: (attempt: Attempt, code: string) => Promise<void>,
  ready: () => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let attempt: Attempt | undefined;
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: Error) => {
      if (flags.shutdown) {
        clearTimeout(timer);
        server.close();
        if (error) reject(error);
        else resolve();
        return;
      }
      if (error) process.stderr.write(`error: ${error.message}\n`);
      attempt = begin();
    };
    const reply = (response: ServerResponse, status: number, message: string) =>
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(`${message}\n`);

    const pages = loginConsentPages(
      { ...flags, endpoint: flags.adminEndpoint ?? process.env.PORTCULLIS_ADMIN_URL ?? 'http://127.0.0.1:4445' },
      flags.skip === true,
    );
    const handler: RequestListener = async (request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/' && request.method === 'GET' && attempt) {
        response.writeHead(302, { location: attempt.url }).end();
        return;
      }
      if (url.pathname !== path && (await pages(request, response, url))) return;
      if (url.pathname !== path || (request.method !== 'GET' && request.method !== 'POST') || !attempt) {
        response.writeHead(404).end();
        return;
      }
      const current = attempt;
      void callbackParameters(request, url)
        .then(async (parameters) => {
          const error = parameters.get('error');
          if (error) {
            reply(response, 400, `The authorization failed: ${error}`);
            throw new CliError(`authorization failed: ${error}: ${parameters.get('error_description') ?? ''}`);
          }
          if (parameters.get('state') !== current.state) {
            reply(response, 400, 'The state does not match this request.');
            throw new CliError('the callback carried another state');
          }
          reply(response, 200, 'Signed in. You can close this window.');
          await exchange(current, parameters.get('code') ?? '');
        })
        .then(
          () => finish(),
          (error: Error) => {
            if (!response.headersSent) reply(response, 400, error.message);
            finish(error);
          },
        );
    };
    const server = flags.https ? createHttpsServer(selfSignedCertificate(), handler) : createHttpServer(handler);
    if (flags.shutdown) {
      timer = setTimeout(() => {
        server.close();
        reject(new CliError('timed out waiting for the browser'));
      }, Number(flags.timeout) * 1000);
    }
    server.once('error', (error) => {
      clearTimeout(timer);
      reject(new CliError(`cannot listen on 127.0.0.1:${flags.port}: ${error.message}`));
    });
    server.listen(flags.port, '127.0.0.1', () => {
      attempt = begin();
      ready();
    });
  });
}
