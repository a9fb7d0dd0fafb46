/**
 * RFC 4180 CSV: a field with a comma, a quote, CR or LF is quoted and its
 * quotes doubled; lines end with CRLF. Free-text fields that start with
 * = + - @ (or a tab / CR) get a leading apostrophe so a spreadsheet opening
 * the export does not run them as formulas (CSV injection); structured fields
 * (ids, phone numbers, timestamps, addresses) are written as they are.
 */
export function csvField(value: unknown, options: { freeText?: boolean } = {}): string {
  if (value === null || value === undefined) return '';
  let text = value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (options.freeText && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(fields: string[]): string {
  return `${fields.join(',')}\r\n`;
}
