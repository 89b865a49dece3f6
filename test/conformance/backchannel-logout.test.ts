/**
 * The Back-Channel Logout OP plan: discovery advertises it with session ids, and an RP-initiated
 * logout POSTs a verifiable logout token (with sid) to the client's backchannel_logout_uri, sends the
 * browser back, and ends the session.
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Receiver } from '../support/backchannel-receiver.js';
import { Browser } from '../support/browser.js';
import { STORES } from '../support/stores.js';
import { plan } from './support/catalogue.js';
import { type ConformanceClient, ConformanceOp, REDIRECT_URI } from './support/harness.js';
import { suiteTitle } from './support/report.js';

const PLAN = plan('backchannel-logout');
const POST_LOGOUT = 'https://rp.conformance.example/logged-out';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

describe.each(STORES)(suiteTitle(PLAN, 'code, client_secret_basic'), (store) => {
  let op: ConformanceOp;
  let client: ConformanceClient;
  const receiver = new Receiver();

  beforeAll(async () => {
    await receiver.start();
    op = await ConformanceOp.start(store);
    client = await op.staticClient('client_secret_basic', {
      post_logout_redirect_uris: [POST_LOGOUT],
      backchannel_logout_uri: `${receiver.base}/backchannel`,
      backchannel_logout_session_required: true,
    });
  });
  afterAll(async () => {
    await op?.close();
    await receiver.close();
  });

  it('oidcc-backchannel-rp-initiated-logout-discovery-endpoint-verification: back-channel logout with sessions is advertised', () => {
    expect(op.discovery.backchannel_logout_supported).toBe(true);
    expect(op.discovery.backchannel_logout_session_supported).toBe(true);
    expect(typeof op.discovery.end_session_endpoint).toBe('string');
  });

  it('oidcc-backchannel-rp-initiated-logout: a logout token with sid reaches the client, the browser returns, the session ends', async () => {
    const browser = new Browser();
    const signed = await op.signIn(client, {}, { browser });
    const sid = signed.idToken.sid as string;
    expect(typeof sid).toBe('string');

    const outcome = await op.endSession(
      { id_token_hint: signed.idTokenJwt, post_logout_redirect_uri: POST_LOGOUT, state: 'bc-state-1234' },
      browser,
    );
    expect(outcome.kind).toBe('redirect');
    expect(outcome.url).toBe(`${POST_LOGOUT}?state=bc-state-1234`);

    const [posted] = await receiver.waitFor((entry) => entry.path === '/backchannel');
    expect(posted?.contentType).toBe('application/x-www-form-urlencoded');
    const { payload, protectedHeader } = await jwtVerify(posted?.form.get('logout_token') as string, createLocalJWKSet(op.jwks), {
      issuer: op.issuer,
      audience: client.id,
      typ: 'logout+jwt',
    });
    expect(protectedHeader.kid && op.jwks.keys.some((key) => key.kid === protectedHeader.kid)).toBe(true);
    expect(payload.sid).toBe(sid);
    expect(payload.events).toEqual({ [EVENT]: {} });
    expect(payload.nonce, 'a logout token has no nonce').toBeUndefined();
    expect(typeof payload.jti).toBe('string');
    expect(Math.abs((payload.iat as number) - Date.now() / 1000)).toBeLessThan(300);

    const silent = await op.authorizeToClient(
      { response_type: 'code', client_id: client.id, redirect_uri: REDIRECT_URI, scope: 'openid', state: 'silent-state', prompt: 'none' },
      { browser },
    );
    expect(silent.params.get('error')).toBe('login_required');
  });
});
