import { Keyring } from '../dist/crypto/keyring.js';
import { sealFlow, openFlow, newCsrfToken } from '../dist/flow/state.js';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
const kr = new Keyring(['a-system-secret-of-enough-length-123']);
const params = { client_id: 'bench', response_type: 'code', scope: 'openid offline_access', redirect_uri: 'http://127.0.0.1:9/callback', state: randomBytes(12).toString('base64url'), nonce: randomBytes(12).toString('base64url'), code_challenge: randomBytes(32).toString('base64url'), code_challenge_method: 'S256' };
const st = { csrf: newCsrfToken(), requestedAt: Date.now(), params, subject: 'user-1', grantScope: ['openid'], idTokenClaims: { email: 'a@b' } };
const sealed = sealFlow(kr, 'consent', st);
function bench(name, fn){ for(let i=0;i<20000;i++) fn(i); const N=100000; const t=process.hrtime.bigint(); for(let i=0;i<N;i++) fn(i); console.log(name.padEnd(30),(Number(process.hrtime.bigint()-t)/N/1000).toFixed(2),'µs'); }
bench('sealFlow', () => sealFlow(kr, 'consent', st));
bench('openFlow', () => openFlow(kr, 'consent', sealed));
const D = { csrf: '', requestedAt: 0, params: {}, amr: [], context: {}, grantScope: [], x: null };
bench('structuredClone defaults', () => structuredClone(D));
const key = randomBytes(32), iv = randomBytes(12);
bench('createDecipheriv gcm', () => createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 }));
bench('createCipheriv gcm+final', () => { const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 }); c.update(sealed); c.final(); c.getAuthTag(); });
