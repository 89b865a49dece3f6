/**
 * The RP-Initiated Logout OP plan: end-session requests as the suite sends them, after a code-flow
 * sign-in. Wherever the suite cannot trust where a request would send the browser, the server must
 * answer with a page of its own (Hydra's error page) and keep the session.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../support/browser.js';
import { STORES } from '../support/stores.js';
import { plan } from './support/catalogue.js';
import { claimsOf } from './support/checks.js';
import { type ConformanceClient, ConformanceOp, type LogoutOutcome, REDIRECT_URI } from './support/harness.js';
import { acceptedWarning, suiteTitle } from './support/report.js';

const PLAN = plan('rp-initiated-logout');
const POST_LOGOUT = 'https://rp.conformance.example/logged-out';

describe.each(STORES)(suiteTitle(PLAN, 'code, client_secret_basic'), (store) => {
  let op: ConformanceOp;
  let client: ConformanceClient;

  beforeAll(async () => {
    op = await ConformanceOp.start(store);
    client = await op.staticClient('client_secret_basic', { post_logout_redirect_uris: [POST_LOGOUT] });
  });
  afterAll(() => op?.close());

  /** A signed-in browser and its ID token. */
  async function signedIn(): Promise<{ browser: Browser; idToken: string; sid: string }> {
    const browser = new Browser();
    const signed = await op.signIn(client, {}, { browser });
    expect(typeof signed.idToken.sid, 'the ID token carries the session id').toBe('string');
    return { browser, idToken: signed.idTokenJwt, sid: signed.idToken.sid as string };
  }

  /** A silent authorization request: what it answers says whether the session lives. */
  async function promptNone(browser: Browser): Promise<URLSearchParams> {
    const outcome = await op.authorizeToClient(
      { response_type: 'code', client_id: client.id, redirect_uri: REDIRECT_URI, scope: 'openid', state: 'silent-state', prompt: 'none' },
      { browser, login: (_skip, subject) => ({ subject }) },
    );
    return outcome.params;
  }

  /** The suite's "no redirect" outcome: a page on the server itself, never the client. */
  function expectOwnPage(outcome: LogoutOutcome, path: string): string {
    if (outcome.kind !== 'page') throw new Error(`expected a page of the server, but the browser was sent to ${outcome.url}`);
    expect(outcome.status).toBe(200);
    expect(new URL(outcome.url).origin).toBe(op.server.publicUrl);
    expect(new URL(outcome.url).pathname).toBe(path);
    return outcome.body;
  }

  async function expectRefusedAndAlive(params: Record<string, string>, browser: Browser): Promise<void> {
    const outcome = await op.endSession(params, browser);
    expectOwnPage(outcome, '/oauth2/fallbacks/error');
    expect(new URL(outcome.url).searchParams.get('error')).toBe('invalid_request');
    expect(outcome.logoutRequest, 'the logout app was never asked').toBeUndefined();
    expect((await promptNone(browser)).get('code'), 'the session survived').toBeTruthy();
  }

  it('oidcc-rp-initiated-logout-discovery-endpoint-verification: discovery has end_session_endpoint on the issuer', () => {
    const endSession = new URL(op.endpoint('end_session_endpoint'));
    expect(endSession.origin).toBe(new URL(op.issuer).origin);
    expect(endSession.hash).toBe('');
  });

  it('oidcc-rp-initiated-logout: back to post_logout_redirect_uri with state; a later prompt=none fails', async () => {
    const { browser, idToken, sid } = await signedIn();
    const outcome = await op.endSession(
      { id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT, state: 'logout-state-123' },
      browser,
    );
    expect(outcome.kind).toBe('redirect');
    expect(outcome.url).toBe(`${POST_LOGOUT}?state=logout-state-123`);
    expect(outcome.logoutRequest).toMatchObject({ rp_initiated: true, sid, subject: 'conformance-user' });
    expect((await promptNone(browser)).get('error')).toBe('login_required');
  });

  it('oidcc-rp-initiated-logout-bad-post-logout-redirect-uri: an unregistered URI gets the error page, no redirect', async () => {
    const { browser, idToken } = await signedIn();
    await expectRefusedAndAlive(
      { id_token_hint: idToken, post_logout_redirect_uri: 'https://attacker.example/logged-out', state: 'st-12345678' },
      browser,
    );
  });

  it('oidcc-rp-initiated-logout-modified-id-token-hint: a hint re-signed with alg none gets the error page', async () => {
    const { browser, idToken } = await signedIn();
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const unsigned = `${header}.${idToken.split('.')[1]}.`;
    await expectRefusedAndAlive({ id_token_hint: unsigned, post_logout_redirect_uri: POST_LOGOUT, state: 'st-12345678' }, browser);
  });

  it('oidcc-rp-initiated-logout-no-id-token-hint: a redirect URI without a hint gets the error page (no redirect)', async (context) => {
    const { browser } = await signedIn();
    await expectRefusedAndAlive({ post_logout_redirect_uri: POST_LOGOUT, state: 'st-12345678' }, browser);
    acceptedWarning(context, 'the error page (invalid_request), not a confirmation page; the session is kept');
  });

  it('oidcc-rp-initiated-logout-no-params: no parameters asks the logout app, then the logged-out page', async () => {
    const { browser, sid } = await signedIn();
    const outcome = await op.endSession({}, browser);
    expect(expectOwnPage(outcome, '/oauth2/fallbacks/logout/callback')).toMatch(/logged out/i);
    expect(outcome.logoutRequest).toMatchObject({ rp_initiated: false, sid });
    expect((await promptNone(browser)).get('error')).toBe('login_required');
  });

  it('oidcc-rp-initiated-logout-no-post-logout-redirect-uri: a hint alone logs out to the logged-out page', async () => {
    const { browser, idToken, sid } = await signedIn();
    const outcome = await op.endSession({ id_token_hint: idToken }, browser);
    expectOwnPage(outcome, '/oauth2/fallbacks/logout/callback');
    expect(outcome.logoutRequest).toMatchObject({ rp_initiated: true, sid });
    expect((await promptNone(browser)).get('error')).toBe('login_required');
  });

  it('oidcc-rp-initiated-logout-no-state: without state, back to the URI without state', async () => {
    const { browser, idToken } = await signedIn();
    const outcome = await op.endSession({ id_token_hint: idToken, post_logout_redirect_uri: POST_LOGOUT }, browser);
    expect(outcome.kind).toBe('redirect');
    expect(outcome.url).toBe(POST_LOGOUT);
    expect((await promptNone(browser)).get('error')).toBe('login_required');
  });

  it('oidcc-rp-initiated-logout-only-state: state alone gets the error page, no redirect', async (context) => {
    const { browser } = await signedIn();
    await expectRefusedAndAlive({ state: 'st-12345678' }, browser);
    acceptedWarning(
      context,
      "Hydra's error page (invalid_request: state without id_token_hint), not a logged-out page; the session is kept",
    );
  });

  it('oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri: a query added to the registered URI gets the error page', async () => {
    const { browser, idToken } = await signedIn();
    await expectRefusedAndAlive(
      { id_token_hint: idToken, post_logout_redirect_uri: `${POST_LOGOUT}?extra=1`, state: 'st-12345678' },
      browser,
    );
  });

  it('oidcc-rp-initiated-logout-bad-id-token-hint: a hint signed with a foreign key gets the error page', async () => {
    const { browser, idToken } = await signedIn();
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    expect((await exportJWK(privateKey)).n).not.toBe(op.jwks.keys[0]?.n);
    const claims = claimsOf(idToken);
    const kid = JSON.parse(Buffer.from(idToken.split('.')[0] as string, 'base64url').toString('utf8')).kid as string;
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(privateKey);
    await expectRefusedAndAlive({ id_token_hint: forged, post_logout_redirect_uri: POST_LOGOUT, state: 'st-12345678' }, browser);
  });
});
