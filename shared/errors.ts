/** The one error vocabulary of the platform, mapped to HTTP in api/errors.ts. */
export interface ErrorDetail {
  path: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details?: ErrorDetail[]) {
    super(400, 'VALIDATION_ERROR', message, details);
  }
}

/** Unknown id, or an id that belongs to another tenant: the same answer for both. */
export class NotFoundError extends AppError {
  constructor(resource = 'resource') {
    super(404, 'NOT_FOUND', `No such ${resource}.`);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'CONFLICT') {
    super(409, code, message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'This credential may not do that.', code = 'FORBIDDEN') {
    super(403, code, message);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'Missing or invalid API key.', code = 'INVALID_API_KEY') {
    super(401, code, message);
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(429, 'RATE_LIMIT_EXCEEDED', 'Too many requests; retry after the time given in Retry-After.', undefined, {
      'Retry-After': String(retryAfterSeconds),
    });
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message: string, code = 'SERVICE_UNAVAILABLE') {
    super(503, code, message);
  }
}
