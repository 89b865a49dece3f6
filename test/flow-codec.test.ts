import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEFLATE_DICTIONARY, pack, unpack } from '../src/flow/codec.js';

const RECORD = {
  client_id: 'a-client',
  redirect_uri: 'https://rp.example/callback',
  scope: ['openid', 'offline_access'],
  state: 'c3RhdGUtdmFsdWUtMTIzNDU2Nzg',
  max_age: 300,
  prompt: null,
  remember: true,
  context: { tier: 'gold', n: [1, 2] },
};

describe('flow state codec', () => {
  it('round-trips a record, written uncompressed', () => {
    const packed = pack(RECORD);
    expect(packed[0]).toBe(0);
    expect(unpack(packed)).toEqual(RECORD);
  });

  it('still reads state that earlier versions wrote deflated', () => {
    const raw = pack(RECORD).subarray(1);
    const legacy = Buffer.concat([Buffer.of(1), deflateRawSync(raw, { level: 9, dictionary: DEFLATE_DICTIONARY })]);
    expect(unpack(legacy)).toEqual(RECORD);
  });

  it('refuses truncated state', () => {
    const packed = pack(RECORD);
    expect(() => unpack(packed.subarray(0, packed.length - 3))).toThrow();
  });
});
