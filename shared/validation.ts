import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { ErrorDetail, ValidationError } from './errors';

/**
 * An E.164 number that libphonenumber considers possible for its country.
 * "Possible" (length and country code) rather than "valid" (assigned ranges),
 * because fictional ranges such as +1 555 are used for tests and sandboxes.
 */
export function isE164(value: string): boolean {
  if (!/^\+[1-9]\d{6,14}$/.test(value)) return false;
  const parsed = parsePhoneNumberFromString(value);
  return Boolean(parsed && parsed.number === value && parsed.isPossible());
}

/** One ajv instance for the platform: schemas are compiled once, at load. */
export const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);
ajv.addFormat('e164', { type: 'string', validate: isE164 });
ajv.addFormat('ulid', { type: 'string', validate: (value: string) => /^(sb_)?[0-9A-HJKMNP-TV-Z]{26}$/.test(value) });

/** Query strings arrive as text: a separate instance coerces them to the schema's types. */
export const queryAjv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(queryAjv);
queryAjv.addFormat('e164', { type: 'string', validate: isE164 });
queryAjv.addFormat('ulid', { type: 'string', validate: (value: string) => /^(sb_)?[0-9A-HJKMNP-TV-Z]{26}$/.test(value) });

function describe(error: ErrorObject): ErrorDetail {
  const base = error.instancePath ? error.instancePath.slice(1).replace(/\//g, '.') : '';
  switch (error.keyword) {
    case 'additionalProperties': {
      const field = (error.params as { additionalProperty: string }).additionalProperty;
      return { path: base ? `${base}.${field}` : field, message: 'is not an accepted field' };
    }
    case 'required': {
      const field = (error.params as { missingProperty: string }).missingProperty;
      return { path: base ? `${base}.${field}` : field, message: 'is required' };
    }
    case 'format': {
      const format = (error.params as { format: string }).format;
      const message = format === 'e164' ? 'must be a phone number in E.164 format, e.g. +15551234567' : `must be a valid ${format}`;
      return { path: base || '(body)', message };
    }
    case 'enum': {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
      return { path: base || '(body)', message: `must be one of: ${allowed.join(', ')}` };
    }
    default:
      return { path: base || '(body)', message: error.message ?? 'is invalid' };
  }
}

export function toValidationError(errors: ErrorObject[] | null | undefined, what = 'request body'): ValidationError {
  const details = (errors ?? []).filter((error) => error.keyword !== 'if' && error.keyword !== 'oneOf' && error.keyword !== 'anyOf').map(describe);
  const unique = details.filter((detail, index) => details.findIndex((other) => other.path === detail.path && other.message === detail.message) === index);
  const first = unique[0];
  const message = first ? `Invalid ${what}: ${first.path} ${first.message}.` : `Invalid ${what}.`;
  return new ValidationError(message, unique);
}

export function compile<T>(schema: object): ValidateFunction<T> {
  return ajv.compile<T>(schema);
}

/** Validates and returns the typed value, or throws a VALIDATION_ERROR. */
export function check<T>(validate: ValidateFunction<T>, value: unknown, what = 'request body'): T {
  if (value === undefined || value === null) {
    throw new ValidationError(`Invalid ${what}: a JSON object is required.`, [{ path: '(body)', message: 'is required' }]);
  }
  if (!validate(value)) throw toValidationError(validate.errors, what);
  return value;
}
