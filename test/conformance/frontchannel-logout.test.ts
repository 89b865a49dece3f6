/**
 * The Front-Channel Logout OP plan: discovery advertises it with session ids, and an RP-initiated
 * logout renders the client's frontchannel_logout_uri (with iss and sid) in the browser before
 * sending it on, and ends the session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../support/browser.js';
import { STORES } from '../support/stores.js';
import { plan } from './support/catalogue.js';
import { type ConformanceClient, ConformanceOp, REDIRECT_URI } from './support/harness.js';
import { suiteTitle } from './support/report.js';

const PLAN = plan('frontchannel-logout');
const POST_LOGOUT = 'https://rp.conformance.example/logged-out';
const FRONT_CHANNEL = 'https://rp.conformance.example/frontchannel-logout';

/** HTML attribute values as the page escapes them. */
const unescapeHtml = (text: string) => text.replace(/&#38;|&amp;/g, '&').replace(/&#34;|&quot;/g, '"');

describe.each(STORES)(suiteTitle(PLAN, 'code, client_secret_basic'), (store) => {
  let op: ConformanceOp;
  let client: ConformanceClient;

  beforeAll(async () => {
    op = await ConformanceOp.start(store);
    client = await op.staticClient('client_secret_basic', {
      post_logout_redirect_uris: [POST_LOGOUT],
      frontchannel_logout_uri: FRONT_CHANNEL,
      frontchannel_logout_session_required: true,
    });
  });
  afterAll(() => op?.close());

  it('oidcc-frontchannel-rp-initiated-logout-discovery-endpoint-verification: front-channel logout with sessions is advertised', () => {
    expect(op.discovery.frontchannel_logout_supported).toBe(true);
    expect(op.discovery.frontchannel_logout_session_supported).toBe(true);
    expect(typeof op.discovery.end_session_endpoint).toBe('string');
  });

  it('oidcc-frontchannel-rp-initiated-logout: the page frames frontchannel_logout_uri with iss and sid, then goes on; the session ends', async () => {
    const browser = new Browser();
    const signed = await op.signIn(client, {}, { browser });
    const sid = signed.idToken.sid as string;

    const outcome = await op.endSession(
      { id_token_hint: signed.idTokenJwt, post_logout_redirect_uri: POST_LOGOUT, state: 'fc-state-1234' },
      browser,
    );
    if (outcome.kind !== 'page') throw new Error(`expected the front-channel page, got a redirect to ${outcome.url}`);
    expect(outcome.status).toBe(200);
    const frames = [...outcome.body.matchAll(/<iframe\b[^>]*\bsrc="([^"]+)"/g)].map((match) => new URL(unescapeHtml(match[1] as string)));
    expect(frames).toHaveLength(1);
    const frame = frames[0] as URL;
    expect(frame.origin + frame.pathname).toBe(FRONT_CHANNEL);
    expect(frame.searchParams.get('iss')).toBe(op.issuer);
    expect(frame.searchParams.get('sid')).toBe(sid);
    // Then on to the client, with its state (by script, and a link without it).
    expect(unescapeHtml(outcome.body)).toContain(`${POST_LOGOUT}?state=fc-state-1234`);

    const silent = await op.authorizeToClient(
      { response_type: 'code', client_id: client.id, redirect_uri: REDIRECT_URI, scope: 'openid', state: 'silent-state', prompt: 'none' },
      { browser },
    );
    expect(silent.params.get('error')).toBe('login_required');
  });
});
