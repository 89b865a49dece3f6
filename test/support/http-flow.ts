/**
 * OAuth 2.0 requests as raw HTTP against any node's URLs (no SDK bound to one server), so that a test
 * can send each step of one flow to a different node.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Browser, CONSENT_URL, LOGIN_URL } from './browser.js';
import { basicAuth } from './http.js';

/** The listeners of one node. */
export interface NodeUrls {
  publicUrl: string;
  adminUrl: string;
}

export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: response.status, body };
}

/** A JSON admin call; `path` starts with `/admin/`. */
export async function admin(
  node: NodeUrls,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<Answer> {
  return answer(
    await fetch(`${node.adminUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': contentType }, body: JSON.stringify(body) }),
    }),
  );
}

export interface Client {
  id: string;
  secret: string;
}

/** `POST /oauth2/token` with client_secret_basic. */
export async function token(node: NodeUrls, client: Client, params: Record<string, string>): Promise<Answer> {
  return answer(
    await fetch(`${node.publicUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client.id, client.secret) },
      body: new URLSearchParams(params).toString(),
    }),
  );
}

/** `POST /admin/oauth2/introspect`. */
export async function introspect(node: NodeUrls, value: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${node.adminUrl}/admin/oauth2/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: value }).toString(),
  });
  if (response.status !== 200) throw new Error(`introspection answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as Record<string, unknown>;
}

export const REDIRECT_URI = 'https://rp.example/cb';

/**
 * One authorization-code flow with PKCE, advanced one step at a time, each step on the node the test
 * chooses. `step()` performs the next step and returns false once the flow has ended (tokens, or an error).
 */
export class CodeFlow {
  readonly browser = new Browser();
  readonly verifier = randomBytes(32).toString('base64url');
  readonly state = randomBytes(8).toString('hex');
  readonly nonce = randomBytes(8).toString('hex');
  /** Where the browser is to go next, or the challenge the app must answer. */
  stage: 'start' | 'login' | 'login-verifier' | 'consent' | 'consent-verifier' | 'code' | 'done' = 'start';
  next = '';
  code = '';
  tokens: Record<string, unknown> | undefined;
  /** The OAuth error the flow ended with, if it did. */
  error: string | undefined;
  /** Every status a node answered with, to check none was a server error. */
  readonly statuses: number[] = [];

  constructor(
    readonly client: Client,
    readonly scope = 'openid offline_access',
    /** Where the server sends the browser to log in and consent (its `urls.login` and `urls.consent`). */
    readonly apps: { login: string; consent: string } = { login: LOGIN_URL, consent: CONSENT_URL },
  ) {}

  /** Runs the next step: the authorization request, an app's answer through the admin API, the browser's return, or the token exchange. */
  async step(node: NodeUrls): Promise<boolean> {
    switch (this.stage) {
      case 'start': {
        const query = new URLSearchParams({
          response_type: 'code',
          client_id: this.client.id,
          redirect_uri: REDIRECT_URI,
          scope: this.scope,
          state: this.state,
          nonce: this.nonce,
          code_challenge: createHash('sha256').update(this.verifier).digest('base64url'),
          code_challenge_method: 'S256',
        });
        return this.browse(`${node.publicUrl}/oauth2/auth?${query}`);
      }
      case 'login': {
        const challenge = new URL(this.next).searchParams.get('login_challenge') as string;
        const accepted = await admin(
          node,
          'PUT',
          `/admin/oauth2/auth/requests/login/accept?login_challenge=${encodeURIComponent(challenge)}`,
          {
            subject: 'alice',
            remember: true,
            remember_for: 3600,
          },
        );
        return this.answered(accepted, 'login-verifier');
      }
      case 'consent': {
        const challenge = new URL(this.next).searchParams.get('consent_challenge') as string;
        const accepted = await admin(
          node,
          'PUT',
          `/admin/oauth2/auth/requests/consent/accept?consent_challenge=${encodeURIComponent(challenge)}`,
          {
            grant_scope: this.scope.split(' '),
            session: { id_token: { email: 'alice@example.com' } },
          },
        );
        return this.answered(accepted, 'consent-verifier');
      }
      case 'login-verifier':
      case 'consent-verifier':
        // The verifier URL names the issuer; the test may send the browser to any node instead.
        return this.browse(onNode(this.next, node));
      case 'code': {
        const result = await token(node, this.client, {
          grant_type: 'authorization_code',
          code: this.code,
          redirect_uri: REDIRECT_URI,
          code_verifier: this.verifier,
        });
        this.statuses.push(result.status);
        this.stage = 'done';
        if (result.status === 200) this.tokens = result.body;
        else this.error = String(result.body.error);
        return false;
      }
      case 'done':
        return false;
    }
  }

  /** Runs every remaining step on `node`. */
  async finish(node: NodeUrls): Promise<this> {
    while (await this.step(node));
    return this;
  }

  private answered(result: Answer, stage: 'login-verifier' | 'consent-verifier'): boolean {
    this.statuses.push(result.status);
    if (result.status !== 200) {
      this.stage = 'done';
      this.error = String(result.body.error);
      return false;
    }
    this.next = result.body.redirect_to as string;
    this.stage = stage;
    return true;
  }

  private async browse(url: string): Promise<boolean> {
    const response = await this.browser.get(url);
    this.statuses.push(response.status);
    const location = response.headers.get('location');
    await response.body?.cancel();
    if (response.status !== 302 && response.status !== 303) {
      this.stage = 'done';
      this.error = `status ${response.status}`;
      return false;
    }
    const target = new URL(location as string, url);
    this.next = target.toString();
    if (this.next.startsWith(this.apps.login)) this.stage = 'login';
    else if (this.next.startsWith(this.apps.consent)) this.stage = 'consent';
    else if (this.next.startsWith(REDIRECT_URI)) {
      const error = target.searchParams.get('error');
      if (error) {
        this.stage = 'done';
        this.error = error;
        return false;
      }
      this.code = target.searchParams.get('code') as string;
      this.stage = 'code';
    } else {
      this.stage = 'done';
      this.error = `redirected to ${this.next}`;
      return false;
    }
    return true;
  }
}

/** The same path and query on another node's public listener. */
export function onNode(url: string, node: NodeUrls): string {
  const parsed = new URL(url);
  const base = new URL(node.publicUrl);
  parsed.protocol = base.protocol;
  parsed.host = base.host;
  return parsed.toString();
}
