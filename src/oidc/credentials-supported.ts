/** The one verifiable-credential type offered (OpenID Connect UserInfo VC draft 00, as Hydra). */
export const CREDENTIALS_SUPPORTED = [
  {
    format: 'jwt_vc_json',
    types: ['VerifiableCredential', 'UserInfoCredential'],
    cryptographic_binding_methods_supported: ['jwk'],
    cryptographic_suites_supported: ['PS256', 'RS256', 'ES256', 'PS384', 'RS384', 'ES384', 'PS512', 'RS512', 'ES512', 'EdDSA'],
  },
];
