import type { Request } from 'express';
import type { ValidateFunction } from 'ajv';
import { ajv, check, queryAjv, toValidationError } from '../shared/validation';

/** Compiles a body schema once; the returned function validates and types a request body. */
export function bodyValidator<T>(schema: object): (req: Request) => T {
  const validate = ajv.compile<T>(schema) as ValidateFunction<T>;
  return (req) => check(validate, req.body);
}

/** Query validator: coerces strings to the schema's types, rejects unknown parameters. */
export function queryValidator<T>(properties: Record<string, object>): (req: Request) => T {
  const validate = queryAjv.compile<T>({ type: 'object', additionalProperties: false, properties });
  return (req) => {
    const query = { ...(req.query as Record<string, unknown>) };
    if (!validate(query)) throw toValidationError(validate.errors, 'query parameters');
    return query as T;
  };
}
