/**
 * Every error the HTTP layer can emit. Each OAuth error code has its own class (as node-oidc-provider
 * does), each carries its status, and all render to Hydra's wire shape
 * `{"error": ..., "error_description": ...}` where the description already includes the hint.
 */

export interface ErrorBody {
  error: string;
  error_description: string;
}

export class HttpError extends Error {
  readonly headers: Record<string, string> = {};

  constructor(
    /** The `error` field: an OAuth code, or Hydra's generic message for non-OAuth errors. */
    readonly error: string,
    readonly status: number,
    readonly description: string,
    readonly hint = '',
    /** Internal detail, shown only with `oauth2.expose_internal_errors`. */
    readonly debug = '',
  ) {
    super(hint ? `${description} ${hint}` : description);
    this.name = new.target.name;
  }

  body(exposeDebug = false): ErrorBody {
    const parts = [this.description, this.hint, exposeDebug ? this.debug : ''].filter((part) => part !== '');
    return { error: this.error, error_description: parts.join(' ') };
  }

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }
}

type HintedError = new (hint?: string, debug?: string) => HttpError;

/**
 * A class per error code. `name` is given explicitly: a class expression returned from a factory is
 * anonymous, and logs and stack traces would otherwise show an empty name.
 */
function kind(name: string, error: string, status: number, description: string): HintedError {
  const made = class extends HttpError {
    constructor(hint = '', debug = '') {
      super(error, status, description, hint, debug);
    }
  };
  Object.defineProperty(made, 'name', { value: name });
  return made;
}

// RFC 6749, OpenID Connect and RFC 7591 error codes.
export const InvalidRequestError = kind(
  'InvalidRequestError',
  'invalid_request',
  400,
  'The request is missing a required parameter, has an invalid parameter value, repeats a parameter, or is otherwise malformed.',
);
export const InvalidClientError = kind(
  'InvalidClientError',
  'invalid_client',
  401,
  'Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).',
);
export const InvalidGrantError = kind(
  'InvalidGrantError',
  'invalid_grant',
  400,
  'The provided authorization grant or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.',
);
export const UnauthorizedClientError = kind(
  'UnauthorizedClientError',
  'unauthorized_client',
  400,
  'The client is not authorized to request a token using this method.',
);
export const UnsupportedGrantTypeError = kind(
  'UnsupportedGrantTypeError',
  'unsupported_grant_type',
  400,
  'The authorization grant type is not supported by the authorization server.',
);
export const UnsupportedResponseTypeError = kind(
  'UnsupportedResponseTypeError',
  'unsupported_response_type',
  400,
  'The authorization server does not support obtaining a token using this method.',
);
export const InvalidScopeError = kind('InvalidScopeError', 'invalid_scope', 400, 'The requested scope is invalid, unknown, or malformed.');
export const AccessDeniedError = kind(
  'AccessDeniedError',
  'access_denied',
  403,
  'The resource owner or authorization server denied the request.',
);
export const ServerError = kind(
  'ServerError',
  'server_error',
  500,
  'The authorization server encountered an unexpected condition that prevented it from fulfilling the request.',
);
// RFC 8628 §3.5: the device code grant's polling answers (fosite's descriptions).
export const AuthorizationPendingError = kind(
  'AuthorizationPendingError',
  'authorization_pending',
  400,
  "The authorization request is still pending as the end user hasn't yet completed the user-interaction steps.",
);
export const SlowDownError = kind(
  'SlowDownError',
  'slow_down',
  400,
  'The authorization request was rate-limited to prevent system overload.',
);
export const ExpiredTokenError = kind(
  'ExpiredTokenError',
  'expired_token',
  400,
  'The device_code has expired, and the device authorization session has concluded.',
);
export const TemporarilyUnavailableError = kind(
  'TemporarilyUnavailableError',
  'temporarily_unavailable',
  503,
  'The authorization server is currently unable to handle the request due to a temporary overloading or maintenance of the server.',
);
export const InvalidStateError = kind(
  'InvalidStateError',
  'invalid_state',
  400,
  'The state is missing or does not have enough characters and is therefore considered too weak.',
);
export const LoginRequiredError = kind(
  'LoginRequiredError',
  'login_required',
  400,
  'The Authorization Server requires End-User authentication.',
);
export const ConsentRequiredError = kind(
  'ConsentRequiredError',
  'consent_required',
  400,
  'The Authorization Server requires End-User consent.',
);
export const InteractionRequiredError = kind(
  'InteractionRequiredError',
  'interaction_required',
  400,
  'The Authorization Server requires End-User interaction of some form to proceed.',
);
export const InvalidTokenError = kind(
  'InvalidTokenError',
  'invalid_token',
  401,
  'The access token provided is expired, revoked, malformed, or invalid for other reasons.',
);
export const RequestUnauthorizedError = kind(
  'RequestUnauthorizedError',
  'request_unauthorized',
  401,
  'The request could not be authorized.',
);
export const RequestForbiddenError = kind('RequestForbiddenError', 'request_forbidden', 403, 'The request is not allowed.');
export const InvalidClientMetadataError = kind(
  'InvalidClientMetadataError',
  'invalid_client_metadata',
  400,
  'The value of one of the Client Metadata fields is invalid and the server has rejected this request.',
);
export const InvalidRedirectUriError = kind(
  'InvalidRedirectUriError',
  'invalid_redirect_uri',
  400,
  'The value of one or more redirect_uris is invalid.',
);

// RFC 8707 §2 resource indicators (fosite has no such code; the description is the RFC's).
export const InvalidTargetError = kind(
  'InvalidTargetError',
  'invalid_target',
  400,
  'The requested resource is invalid, missing, unknown, or malformed.',
);

// OpenID Connect Core §6 / RFC 9101 request objects, with fosite's descriptions.
export const InvalidRequestObjectError = kind(
  'InvalidRequestObjectError',
  'invalid_request_object',
  400,
  'The request parameter contains an invalid Request Object.',
);
export const InvalidRequestUriError = kind(
  'InvalidRequestUriError',
  'invalid_request_uri',
  400,
  'The request_uri in the Authorization Request returns an error or contains invalid data.',
);

// Generic (non-OAuth) errors of the admin API; `error` carries Hydra's wording for them.
export const BadRequestError = kind('BadRequestError', 'The request was malformed or contained invalid parameters', 400, '');
export const NotFoundError = kind('NotFoundError', 'Unable to locate the resource', 404, '');
export const ConflictError = kind(
  'ConflictError',
  'Unable to insert or update resource because a resource with that value exists already',
  409,
  '',
);
export const UnauthorizedError = kind('UnauthorizedError', 'The request could not be authorized', 401, '');
export const ForbiddenError = kind('ForbiddenError', 'The requested action was forbidden', 403, '');
export const PayloadTooLargeError = kind('PayloadTooLargeError', 'The request body is too large', 413, '');
export const RequestHeaderFieldsTooLargeError = kind('RequestHeaderFieldsTooLargeError', 'The request headers are too large', 431, '');
export const RequestTimeoutError = kind('RequestTimeoutError', 'The request took too long to arrive', 408, '');
export const UnsupportedMediaTypeError = kind('UnsupportedMediaTypeError', 'The request content type is not supported', 415, '');
export const MethodNotAllowedError = kind('MethodNotAllowedError', 'The request method is not allowed on this resource', 405, '');
/** Hydra's answer to a request over plain HTTP that no trusted TLS-terminating proxy forwarded (`allow_termination_from`). */
export const InsecureTransportError = kind('InsecureTransportError', 'can not serve request over insecure http', 502, '');
export const InternalError = kind('InternalError', 'An internal server error occurred, please contact the system administrator', 500, '');
