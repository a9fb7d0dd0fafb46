import type { Request } from 'express';
import type { ValidateFunction } from 'ajv';
import type { JSONSchema } from 'json-schema-to-ts';
import { check, compile, queryAjv, toValidationError } from '../shared/validation';
import type { SchemaType } from '../shared/schemas/common';

/**
 * Compiles a body schema once; the returned function validates a request body
 * and gives it the type derived from the same schema.
 */
export function bodyValidator<const S extends JSONSchema>(schema: S): (req: Request) => SchemaType<S> {
  const validate = compile(schema as object) as ValidateFunction<SchemaType<S>>;
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
