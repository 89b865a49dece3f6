import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { Command } from 'commander';
import { CliError } from './admin-api.js';
import { type FormatFlag, printRecords } from './output.js';
import {
  authenticate,
  clientFlags,
  collect,
  PUBLIC_HELP,
  postForm,
  publicEndpoint,
  type TokenFlags,
  type TokenResponse,
  withFormat,
} from './token-commands.js';

type Flags = TokenFlags & FormatFlag & { port: string; redirect?: string; prompt?: string; maxAge?: string; timeout: string };

const random = () => randomBytes(32).toString('base64url');

/**
 * `portcullis perform authorization-code`: the authorization code flow with PKCE, as a client would
 * run it. It starts a callback server on 127.0.0.1, prints the URL to open, waits for the browser to
 * come back, and exchanges the code. The URL and progress go to stderr, the tokens to stdout.
 */
export function authorizationCodeCommand(): Command {
  return withFormat(
    clientFlags(new Command('authorization-code').description('Get tokens with the authorization code flow and PKCE')),
    PUBLIC_HELP,
  )
    .option('--port <port>', 'port of the local callback server', '4446')
    .option('--redirect <uri>', 'redirect URI registered for the client (default: http://127.0.0.1:<port>/callback)')
    .option('--scope <scope>', 'scope to request (repeatable, comma-separated)', collect)
    .option('--audience <aud>', 'audience to request (repeatable, comma-separated)', collect)
    .option('--prompt <prompt>', 'prompt parameter (none, login, consent, …)')
    .option('--max-age <seconds>', 'max_age parameter')
    .option('--timeout <seconds>', 'how long to wait for the browser', '300')
    .action(async (flags: Flags) => {
      if (!flags.clientId) throw new CliError('--client-id is required');
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CliError('--port must be a port number');
      const redirect = new URL(flags.redirect ?? `http://127.0.0.1:${port}/callback`);
      const verifier = random();
      const state = random();
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: flags.clientId,
        redirect_uri: redirect.toString(),
        scope: (flags.scope ?? ['openid', 'offline_access']).join(' '),
        state,
        nonce: random(),
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      });
      if (flags.audience?.length) query.set('audience', flags.audience.join(' '));
      if (flags.prompt) query.set('prompt', flags.prompt);
      if (flags.maxAge) query.set('max_age', flags.maxAge);

      const code = await waitForCallback(port, redirect.pathname, state, Number(flags.timeout) * 1000, () => {
        process.stderr.write(
          `Open this URL in a browser to sign in:\n\n${publicEndpoint(flags)}/oauth2/auth?${query}\n\nWaiting for the callback on ${redirect}\n`,
        );
      });
      const form = new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirect.toString(),
        code_verifier: verifier,
      });
      const headers: Record<string, string> = {};
      if (flags.clientSecret) authenticate(flags, form, headers);
      else form.set('client_id', flags.clientId);
      const tokens = JSON.parse(await postForm(`${publicEndpoint(flags)}/oauth2/token`, form, headers)) as TokenResponse;
      printRecords(tokens, flags.format, [
        ['ACCESS TOKEN', (t) => t.access_token],
        ['REFRESH TOKEN', (t) => t.refresh_token],
        ['ID TOKEN', (t) => t.id_token],
        ['EXPIRES IN', (t) => t.expires_in],
        ['SCOPE', (t) => t.scope],
      ]);
    });
}

/** Serves the redirect URI until the browser arrives with a code (or an error) for this state. */
function waitForCallback(port: number, path: string, state: string, timeoutMs: number, ready: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== path) {
        response.writeHead(404).end();
        return;
      }
      const finish = (status: number, message: string, outcome: () => void) => {
        response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(`${message}\n`);
        clearTimeout(timer);
        server.close();
        outcome();
      };
      const error = url.searchParams.get('error');
      if (error) {
        finish(400, `The authorization failed: ${error}`, () =>
          reject(new CliError(`authorization failed: ${error}: ${url.searchParams.get('error_description') ?? ''}`)),
        );
      } else if (url.searchParams.get('state') !== state) {
        finish(400, 'The state does not match this request.', () => reject(new CliError('the callback carried another state')));
      } else {
        const code = url.searchParams.get('code') ?? '';
        finish(200, 'Signed in. You can close this window.', () => resolve(code));
      }
    });
    const timer = setTimeout(() => {
      server.close();
      reject(new CliError('timed out waiting for the browser'));
    }, timeoutMs);
    server.once('error', (error) => {
      clearTimeout(timer);
      reject(new CliError(`cannot listen on 127.0.0.1:${port}: ${error.message}`));
    });
    server.listen(port, '127.0.0.1', ready);
  });
}
