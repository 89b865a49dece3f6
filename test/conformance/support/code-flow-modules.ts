/**
 * The Basic OP plan's modules, written once and run by every plan whose response type returns a code
 * at the front channel (basic.test.ts with each client authentication, form-post.test.ts with
 * response_mode=form_post). Each module is a function of the plan's server, its clients and variant.
 */
import { expect } from 'vitest';
import { Browser, type LoginChoice } from '../../support/browser.js';
import type { TestClock } from '../../support/clock.js';
import { introspect } from '../../support/http-flow.js';
import { checkAuthorizationResponse, claimsOf } from './checks.js';
import {
  type AuthMethod,
  type ConformanceClient,
  type ConformanceOp,
  REDIRECT_URI,
  type SignedIn,
  unsignedRequestObject,
} from './harness.js';
import { acceptedWarning } from './report.js';

export interface CodeFlowVariant {
  authMethod: AuthMethod;
  /** The response type of every request (code unless an implicit or hybrid plan says otherwise). */
  responseType?: string;
  /** Extra authorization parameters every request of the variant carries (e.g. response_mode=form_post). */
  params: Record<string, string>;
}

export interface CodeFlowContext {
  op: ConformanceOp;
  clock: TestClock;
  variant: CodeFlowVariant;
  /** The variant's client (its authentication method; request objects by value and by reference allowed unsigned). */
  client: ConformanceClient;
  /** A second client of the same kind, to check refresh tokens are bound to theirs. */
  other: ConformanceClient;
  /** A client_secret_post client (oidcc-server-client-secret-post). */
  postClient: ConformanceClient;
}

type TestContext = { task: { meta: object } };

export interface CodeFlowModule {
  id: string;
  title: string;
  run(ctx: CodeFlowContext, test: TestContext): Promise<void>;
}

/** Where the suite serves its request object (registered as the client's request_uri). */
export const REQUEST_OBJECT_PATH = '/request-object';

/** What every request of the variant carries: its response type and extra parameters. */
const variantParams = (ctx: CodeFlowContext): Record<string, string> => ({
  ...(ctx.variant.responseType ? { response_type: ctx.variant.responseType } : {}),
  ...ctx.variant.params,
});

/** A fresh authorization request of the variant's client (state, nonce, PKCE when a code comes back). */
function requestParams(ctx: CodeFlowContext, extra: Record<string, string> = {}) {
  return ctx.op.authorizationRequest(ctx.client, { ...variantParams(ctx), ...extra });
}

/**
 * The claims the client can read: userinfo's (checked against the ID token's sub), or, for
 * response_type=id_token, which gives no access token, the ID token's own (OpenID Connect Core §5.4).
 */
async function claimsFor(ctx: CodeFlowContext, signed: SignedIn): Promise<Record<string, unknown>> {
  if (!signed.accessToken) return signed.idToken as Record<string, unknown>;
  return ctx.op.userinfoClaims(signed.accessToken, signed.idToken.sub as string);
}

/** A sign-in, then userinfo called as `how` says (the userinfo modules; response_type=id_token has nothing to call it with). */
async function userinfoBy(ctx: CodeFlowContext, test: TestContext, how: 'get' | 'post-header'): Promise<void> {
  const signed = await ctx.op.signIn(ctx.client, { ...variantParams(ctx) });
  if (!signed.accessToken) return noAccessToken(test, signed);
  await ctx.op.userinfoClaims(signed.accessToken, signed.idToken.sub as string, how);
}

/** response_type=id_token: no access token, so nothing to call userinfo with; the claims are in the ID token. */
function noAccessToken(test: TestContext, signed: SignedIn): void {
  expect(signed.idToken.sub).toBeDefined();
  acceptedWarning(
    test,
    'response_type id_token gives no access token: userinfo cannot be called (the suite skips it); the claims are in the ID token',
  );
}

async function scopeClaims(ctx: CodeFlowContext, scope: string, claims: string[]) {
  const signed = await ctx.op.signIn(ctx.client, { scope, ...variantParams(ctx) });
  const userinfo = await claimsFor(ctx, signed);
  for (const claim of claims) expect(userinfo[claim] ?? signed.idToken[claim], `${claim} for scope ${scope}`).toBeDefined();
}

/** A signed-in browser (remembered login) and its first sign-in. */
async function rememberedSignIn(ctx: CodeFlowContext) {
  const browser = new Browser();
  const first = await ctx.op.signIn(ctx.client, { ...variantParams(ctx) }, { browser });
  return { browser, first };
}

/** A second sign-in, 2 s after a remembered one, that must ask the login app again (no skip) and move auth_time on. */
async function reauthenticates(ctx: CodeFlowContext, extra: Record<string, string>): Promise<void> {
  const { browser, first } = await rememberedSignIn(ctx);
  ctx.clock.advance(2000);
  let skipOffered: boolean | undefined;
  const second = await ctx.op.signIn(
    ctx.client,
    { ...extra, ...variantParams(ctx) },
    {
      browser,
      onLoginRequest: (request) => {
        skipOffered = request.skip as boolean;
      },
    },
  );
  expect(skipOffered).toBe(false);
  expect(second.idToken.sub).toBe(first.idToken.sub);
  expect(typeof second.idToken.auth_time).toBe('number');
  expect(second.idToken.auth_time as number).toBeGreaterThan(first.idToken.auth_time as number);
}

/** A second sign-in that reuses the remembered session: the same sub and auth_time. */
async function reusesSession(ctx: CodeFlowContext, extra: (first: SignedIn) => Record<string, string>): Promise<void> {
  const { browser, first } = await rememberedSignIn(ctx);
  const second = await ctx.op.signIn(
    ctx.client,
    { ...extra(first), ...variantParams(ctx) },
    { browser, login: (_skip, subject) => ({ subject }) },
  );
  expect(second.idToken.sub).toBe(first.idToken.sub);
  expect(second.idToken.auth_time).toBe(first.idToken.auth_time);
}

/** The oidc_context the login app sees for a sign-in with these parameters. */
async function loginContext(
  ctx: CodeFlowContext,
  extra: Record<string, string>,
  login: LoginChoice = {},
): Promise<{ context: Record<string, unknown>; signed: SignedIn }> {
  let context: Record<string, unknown> = {};
  const signed = await ctx.op.signIn(
    ctx.client,
    { ...extra, ...variantParams(ctx) },
    {
      login,
      onLoginRequest: (request) => {
        context = request.oidc_context as Record<string, unknown>;
      },
    },
  );
  return { context, signed };
}

export const CODE_FLOW_MODULES: CodeFlowModule[] = [
  {
    id: 'oidcc-server',
    title: 'discovery, code, token exchange, ID token and userinfo all pass the checks',
    async run(ctx) {
      const signed = await ctx.op.signIn(ctx.client, { scope: 'openid email', ...variantParams(ctx) });
      expect(String(signed.tokens?.token_type ?? signed.response.get('token_type') ?? 'bearer').toLowerCase()).toBe('bearer');
      await claimsFor(ctx, signed);
    },
  },
  {
    id: 'oidcc-response-type-missing',
    title: 'without response_type the client gets unsupported_response_type',
    async run(ctx, test) {
      const { params } = requestParams(ctx);
      delete params.response_type;
      const outcome = await ctx.op.authorize(params);
      if (outcome.kind !== 'redirect') throw new Error(`expected an error at the client, got a ${outcome.status} page`);
      checkAuthorizationResponse(outcome.params, { issuer: ctx.op.issuer, state: params.state as string });
      expect(['unsupported_response_type', 'invalid_request']).toContain(outcome.params.get('error'));
      acceptedWarning(test, `an error redirect with ${outcome.params.get('error')} (the suite also accepts an error page)`);
    },
  },
  {
    id: 'oidcc-idtoken-signature',
    title: 'the ID token is RS256 with a kid from the JWKS',
    async run(ctx) {
      const signed = await ctx.op.signIn(ctx.client, { ...variantParams(ctx) });
      const header = JSON.parse(Buffer.from(signed.idTokenJwt.split('.')[0] as string, 'base64url').toString('utf8'));
      expect(header.alg).toBe('RS256');
      expect(ctx.op.jwks.keys.map((key) => key.kid)).toContain(header.kid);
    },
  },
  {
    id: 'oidcc-idtoken-unsigned',
    title: 'discovery does not offer none for ID tokens, so the suite skips the module (its own rule); registering it is refused',
    async run(ctx) {
      expect(ctx.op.discovery.id_token_signing_alg_values_supported).not.toContain('none');
      await ctx.op.refusedRegistration({ id_token_signed_response_alg: 'none' });
    },
  },
  {
    id: 'oidcc-userinfo-get',
    title: 'GET userinfo with the bearer token',
    run: (ctx, test) => userinfoBy(ctx, test, 'get'),
  },
  {
    id: 'oidcc-userinfo-post-header',
    title: 'POST userinfo with Authorization: Bearer',
    run: (ctx, test) => userinfoBy(ctx, test, 'post-header'),
  },
  {
    id: 'oidcc-userinfo-post-body',
    title: 'POST userinfo with access_token in the form body',
    async run(ctx, test) {
      const signed = await ctx.op.signIn(ctx.client, { ...variantParams(ctx) });
      if (!signed.accessToken) return noAccessToken(test, signed);
      const answer = await ctx.op.userinfo(signed.accessToken, 'post-body');
      if (answer.status === 200) {
        expect(JSON.parse(answer.text).sub).toBe(signed.idToken.sub);
        acceptedWarning(test, 'accepted (RFC 6750 §2.2)');
      } else {
        expect(answer.status).toBe(401);
        acceptedWarning(test, 'refused with 401 (RFC 6750 §2.2 is optional)');
      }
    },
  },
  {
    id: 'oidcc-ensure-request-without-nonce-fails',
    title: 'an ID token in the front channel without a nonce: invalid_request at the client',
    async run(ctx, test) {
      const { params } = requestParams(ctx);
      delete params.nonce;
      const outcome = await ctx.op.authorizeToClient(params);
      expect(outcome.mode, 'implicit and hybrid responses come in the fragment (or form post)').not.toBe('query');
      if (!(params.response_type as string).split(' ').includes('id_token')) {
        // OpenID Connect Core §3.3.2.11: nonce is optional for "code token" (no ID token at the front channel).
        expect(outcome.params.get('error')).toBeNull();
        acceptedWarning(test, 'code token: the request succeeds, nonce being optional for it (Core §3.3.2.11)');
        return;
      }
      expect(outcome.params.get('error')).toBe('invalid_request');
    },
  },
  {
    id: 'oidcc-ensure-request-without-nonce-succeeds-for-code-flow',
    title: 'a code flow without nonce succeeds, and the ID token has no nonce',
    async run(ctx) {
      const signed = await ctx.op.signIn(ctx.client, { nonce: '', ...variantParams(ctx) });
      expect(signed.idToken.nonce).toBeUndefined();
    },
  },
  {
    id: 'oidcc-scope-profile',
    title: 'scope profile yields the profile claims',
    run: (ctx) => scopeClaims(ctx, 'openid profile', ['name', 'given_name', 'family_name']),
  },
  {
    id: 'oidcc-scope-email',
    title: 'scope email yields email and email_verified',
    run: (ctx) => scopeClaims(ctx, 'openid email', ['email', 'email_verified']),
  },
  { id: 'oidcc-scope-address', title: 'scope address yields address', run: (ctx) => scopeClaims(ctx, 'openid address', ['address']) },
  {
    id: 'oidcc-scope-phone',
    title: 'scope phone yields phone_number and phone_number_verified',
    run: (ctx) => scopeClaims(ctx, 'openid phone', ['phone_number', 'phone_number_verified']),
  },
  {
    id: 'oidcc-scope-all',
    title: 'all four scopes at once',
    run: (ctx) => scopeClaims(ctx, 'openid profile email address phone', ['name', 'email', 'address', 'phone_number']),
  },
  {
    id: 'oidcc-alternate-happy-flow',
    title: 'scopes and parameters in another order work the same',
    async run(ctx) {
      const { params, verifier } = requestParams(ctx, { scope: 'email openid' });
      const reversed = Object.fromEntries(Object.entries(params).reverse());
      const outcome = await ctx.op.authorizeToClient(reversed);
      const signed = await ctx.op.complete(ctx.client, params, verifier, outcome.params);
      const scope = signed.tokens?.scope ?? outcome.params.get('scope');
      if (scope !== null && scope !== undefined) expect(String(scope).split(' ').sort()).toEqual(['email', 'openid']);
    },
  },
  {
    id: 'oidcc-display-page',
    title: 'display=page is accepted',
    async run(ctx) {
      await ctx.op.signIn(ctx.client, { display: 'page', ...variantParams(ctx) });
    },
  },
  {
    id: 'oidcc-display-popup',
    title: 'display=popup is accepted',
    async run(ctx) {
      await ctx.op.signIn(ctx.client, { display: 'popup', ...variantParams(ctx) });
    },
  },
  {
    id: 'oidcc-prompt-login',
    title: 'prompt=login asks the login app again (no skip) and auth_time moves on',
    run: (ctx) => reauthenticates(ctx, { prompt: 'login' }),
  },
  {
    id: 'oidcc-prompt-none-not-logged-in',
    title: 'prompt=none without a session: login_required at the client',
    async run(ctx) {
      const { params } = requestParams(ctx, { prompt: 'none' });
      const outcome = await ctx.op.authorizeToClient(params);
      expect(outcome.params.get('error')).toBe('login_required');
    },
  },
  {
    id: 'oidcc-prompt-none-logged-in',
    title: 'prompt=none with a session succeeds silently, same sub and auth_time',
    run: (ctx) => reusesSession(ctx, () => ({ prompt: 'none' })),
  },
  {
    id: 'oidcc-max-age-1',
    title: 'max_age=1 after two seconds asks for a new login; auth_time is present and later',
    run: (ctx) => reauthenticates(ctx, { max_age: '1' }),
  },
  {
    id: 'oidcc-max-age-10000',
    title: 'max_age=10000 reuses the session: same sub and auth_time',
    run: (ctx) => reusesSession(ctx, () => ({ max_age: '10000' })),
  },
  {
    id: 'oidcc-ensure-request-with-unknown-parameter-succeeds',
    title: 'an unknown parameter is ignored',
    async run(ctx) {
      await ctx.op.signIn(ctx.client, { extra_conformance_parameter: 'ignored', ...variantParams(ctx) });
    },
  },
  {
    id: 'oidcc-id-token-hint',
    title: 'prompt=none with the first ID token as id_token_hint succeeds, same sub',
    run: (ctx) => reusesSession(ctx, (first) => ({ prompt: 'none', id_token_hint: first.idTokenJwt })),
  },
  {
    id: 'oidcc-login-hint',
    title: 'login_hint is accepted and reaches the login app',
    async run(ctx) {
      const { context } = await loginContext(ctx, { login_hint: 'connie@conformance.example' });
      expect(context.login_hint).toBe('connie@conformance.example');
    },
  },
  {
    id: 'oidcc-ui-locales',
    title: 'ui_locales is accepted and reaches the login app',
    async run(ctx) {
      const { context } = await loginContext(ctx, { ui_locales: 'se en' });
      expect(context.ui_locales).toEqual(['se', 'en']);
    },
  },
  {
    id: 'oidcc-claims-locales',
    title: 'claims_locales is accepted',
    async run(ctx) {
      const signed = await ctx.op.signIn(ctx.client, { claims_locales: 'se en', scope: 'openid profile', ...variantParams(ctx) });
      await claimsFor(ctx, signed);
    },
  },
  {
    id: 'oidcc-ensure-request-with-acr-values-succeeds',
    title: 'acr_values reach the login app, and the acr it chose is in the ID token',
    async run(ctx, test) {
      const { context, signed } = await loginContext(ctx, { acr_values: '1 2' }, { acr: '1' });
      expect(context.acr_values).toEqual(['1', '2']);
      expect(signed.idToken.acr).toBe('1');
      acceptedWarning(test, 'acr is what the login app accepted the login with (here one of the acr_values)');
    },
  },
  {
    id: 'oidcc-codereuse',
    title: 'a code used twice: invalid_grant',
    async run(ctx) {
      const { params, verifier } = requestParams(ctx);
      const response = (await ctx.op.authorizeToClient(params)).params;
      const code = response.get('code') as string;
      await ctx.op.complete(ctx.client, params, verifier, response);
      const again = await ctx.op.token(ctx.client, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      });
      expect(again.status).toBe(400);
      expect(again.body.error).toBe('invalid_grant');
    },
  },
  {
    id: 'oidcc-codereuse-30seconds',
    title: 'a code used again 30 s later: invalid_grant, and the first tokens are revoked',
    async run(ctx) {
      const { params, verifier } = requestParams(ctx, { scope: 'openid offline_access' });
      const response = (await ctx.op.authorizeToClient(params)).params;
      const code = response.get('code') as string;
      const first = { body: (await ctx.op.complete(ctx.client, params, verifier, response)).tokens as Record<string, unknown> };
      expect((await introspect(ctx.op.server, first.body.access_token as string)).active).toBe(true);
      ctx.clock.advance(30_000);
      const again = await ctx.op.token(ctx.client, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      });
      expect(again.body.error).toBe('invalid_grant');
      expect((await introspect(ctx.op.server, first.body.access_token as string)).active).toBe(false);
      expect((await introspect(ctx.op.server, first.body.refresh_token as string)).active).toBe(false);
    },
  },
  {
    id: 'oidcc-ensure-registered-redirect-uri',
    title: 'an unregistered redirect_uri gets an error page, never a redirect',
    async run(ctx) {
      const { params } = requestParams(ctx, { redirect_uri: 'https://attacker.example/cb' });
      await ctx.op.expectErrorPage(params);
    },
  },
  {
    id: 'oidcc-ensure-post-request-succeeds',
    title: 'the authorization request POSTed as a form works',
    async run(ctx) {
      await ctx.op.signIn(ctx.client, { ...variantParams(ctx) }, { post: true });
    },
  },
  {
    id: 'oidcc-server-client-secret-post',
    title: 'the happy path with a client_secret_post client',
    async run(ctx) {
      const signed = await ctx.op.signIn(ctx.postClient, { ...variantParams(ctx) });
      await claimsFor(ctx, signed);
    },
  },
  {
    id: 'oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported',
    title: 'an unsigned request object by reference (request_uri) is processed',
    async run(ctx) {
      const request = requestParams(ctx);
      const objectUrl = await ctx.op.serve(REQUEST_OBJECT_PATH, unsignedRequestObject(request.params), 'application/oauth-authz-req+jwt');
      const { signed } = await ctx.op.signInWithRequestObject(ctx.client, request, { request_uri: objectUrl }, ctx.variant.params);
      expect(signed.idToken.nonce, "the object's nonce was used").toBe(request.params.nonce);
    },
  },
  {
    id: 'oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported',
    title: 'an unsigned request object by value (request) is processed',
    async run(ctx) {
      const request = requestParams(ctx);
      const { signed } = await ctx.op.signInWithRequestObject(
        ctx.client,
        request,
        { request: unsignedRequestObject(request.params) },
        ctx.variant.params,
      );
      expect(signed.idToken.nonce).toBe(request.params.nonce);
    },
  },
  {
    id: 'oidcc-claims-essential',
    title: 'a claims request for an essential name succeeds',
    async run(ctx, test) {
      const signed = await ctx.op.signIn(ctx.client, {
        claims: JSON.stringify({ userinfo: { name: { essential: true } } }),
        ...variantParams(ctx),
      });
      const userinfo = await claimsFor(ctx, signed);
      acceptedWarning(
        test,
        userinfo.name === undefined
          ? 'the claims parameter is not supported (discovery: claims_parameter_supported false); name is not returned'
          : 'the claims parameter is not supported (discovery: claims_parameter_supported false); name is returned because the consent app put it in the session',
      );
    },
  },
  {
    id: 'oidcc-ensure-request-object-with-redirect-uri',
    title: 'redirect_uri only inside the request object is used',
    async run(ctx) {
      const request = requestParams(ctx);
      const { url } = await ctx.op.signInWithRequestObject(
        ctx.client,
        request,
        { request: unsignedRequestObject(request.params) },
        ctx.variant.params,
      );
      expect(url.startsWith(REDIRECT_URI)).toBe(true);
    },
  },
  {
    id: 'oidcc-refresh-token',
    title: 'offline_access gives a refresh token that works for its client only',
    async run(ctx) {
      const signed = await ctx.op.signIn(ctx.client, { scope: 'openid offline_access', prompt: 'consent', ...variantParams(ctx) });
      const refresh = signed.tokens?.refresh_token as string;
      expect(typeof refresh).toBe('string');
      const stolen = await ctx.op.token(ctx.other, { grant_type: 'refresh_token', refresh_token: refresh });
      expect(stolen.status).toBe(400);
      expect(['invalid_grant', 'unauthorized_client']).toContain(stolen.body.error);
      const refreshed = await ctx.op.token(ctx.client, { grant_type: 'refresh_token', refresh_token: refresh });
      expect(refreshed.status, refreshed.text).toBe(200);
      expect(typeof refreshed.body.access_token).toBe('string');
      const idToken = await ctx.op.checkIdToken(ctx.client, refreshed.body.id_token as string);
      expect(idToken.sub).toBe(signed.idToken.sub);
      expect(claimsOf(refreshed.body.id_token as string).auth_time).toBe(signed.idToken.auth_time);
    },
  },
  {
    id: 'oidcc-ensure-request-with-valid-pkce-succeeds',
    title: 'a valid S256 code_challenge and verifier work',
    async run(ctx) {
      const signed = await ctx.op.signIn(ctx.client, { ...variantParams(ctx) });
      expect(typeof signed.verifier).toBe('string');
      expect(signed.tokens?.access_token).toBeDefined();
    },
  },
];
