/** oidcc-discovery-endpoint-verification, shared by the Config and Dynamic OP plans. */
import { expect } from 'vitest';
import type { ConformanceOp } from './harness.js';

/** The discovery document's required values, as the suite checks them (the JWKS was checked when the harness started). */
export async function verifyDiscovery(op: ConformanceOp): Promise<void> {
  const d = op.discovery;
  const issuer = new URL(op.issuer);
  expect(issuer.search + issuer.hash, 'the issuer has no query or fragment').toBe('');
  // OpenID Connect Discovery §4.3: the document is served at <issuer>/.well-known/openid-configuration.
  const atIssuer = await fetch(new URL('.well-known/openid-configuration', op.issuer.endsWith('/') ? op.issuer : `${op.issuer}/`));
  expect(atIssuer.status).toBe(200);
  expect(atIssuer.headers.get('content-type')).toMatch(/^application\/json/);
  for (const name of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'registration_endpoint']) {
    const url = new URL(op.endpoint(name));
    expect(url.protocol, `${name} uses the issuer's scheme`).toBe(issuer.protocol);
    expect(url.hash, `${name} has no fragment`).toBe('');
  }
  expect(d.scopes_supported).toEqual(expect.arrayContaining(['openid']));
  // Discovery §3: code, id_token and "token id_token"; response types are sets of words, in any order.
  const responseTypes = (d.response_types_supported as string[]).map((type) => type.split(' ').sort().join(' '));
  expect(responseTypes).toEqual(expect.arrayContaining(['code', 'id_token', 'id_token token']));
  expect(d.response_modes_supported ?? ['query', 'fragment']).toEqual(expect.arrayContaining(['query', 'fragment']));
  expect(d.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'implicit']));
  expect((d.subject_types_supported as string[]).every((type) => ['public', 'pairwise'].includes(type))).toBe(true);
  expect(d.id_token_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS256']));
  for (const list of [
    'id_token_signing_alg_values_supported',
    'userinfo_signing_alg_values_supported',
    'request_object_signing_alg_values_supported',
  ]) {
    expect(Array.isArray(d[list]), `${list} is a list`).toBe(true);
  }
  expect(d.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic']));
  expect(d.claims_supported).toEqual(expect.arrayContaining(['sub']));
  // The suite's "claims_parameter_supported" and "request_parameter_supported" are booleans when present.
  for (const flag of ['claims_parameter_supported', 'request_parameter_supported', 'request_uri_parameter_supported']) {
    if (d[flag] !== undefined) expect(typeof d[flag], flag).toBe('boolean');
  }
  // The JWKS was fetched and checked by the harness (valid keys, distinct kids, no private parts).
  expect(op.jwks.keys.length).toBeGreaterThan(0);
}
