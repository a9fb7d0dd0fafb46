/** One field's problem in a 400 `VALIDATION_ERROR`. */
export interface SenderzErrorDetail {
  path: string;
  message: string;
}

/**
 * Every failed call: the API's `{error, code, details?}` envelope plus the HTTP
 * status and the request id to quote to the operator. A request that never got
 * an answer (connection refused, timeout) has status 0 and code `CONNECTION_ERROR`.
 */
export class SenderzError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details?: SenderzErrorDetail[];
  readonly requestId: string | null;
  /** Seconds, from `Retry-After` (429). */
  readonly retryAfter: number | null;

  constructor(init: { message: string; status: number; code: string; details?: SenderzErrorDetail[]; requestId?: string | null; retryAfter?: number | null; cause?: unknown }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'SenderzError';
    this.status = init.status;
    this.code = init.code;
    this.details = init.details;
    this.requestId = init.requestId ?? null;
    this.retryAfter = init.retryAfter ?? null;
  }
}

/** A webhook whose signature does not match its raw body and secret. */
export class SenderzSignatureError extends Error {
  constructor(message = 'The webhook signature does not match: check the secret and that the raw body is verified.') {
    super(message);
    this.name = 'SenderzSignatureError';
  }
}
