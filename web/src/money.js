// Prices are UInt64 cents, which GraphQL carries as decimal strings.

/** "1250" → "12.50" */
export function formatCents(cents) {
  const digits = String(cents ?? '0').padStart(3, '0');
  return `${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

/** "12.5" → "1250"; null when `text` is not an amount with at most two decimals. */
export function parsePrice(text) {
  const match = /^\s*(\d+)(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!match) return null;
  const cents = `${match[1]}${(match[2] ?? '').padEnd(2, '0')}`.replace(/^0+(?=\d)/, '');
  return cents;
}
