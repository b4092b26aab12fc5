// Tariff prices as staff type them ("9,99", "9.99", "10") and as they are shown ("9,99"):
// stored in cents, so no amount is ever a binary fraction.

/** Cents of a typed price: digits with up to two decimals after a comma or a point; else undefined. */
export function parsePriceCents(text: string): number | undefined {
  const match = /^(\d{1,7})(?:[.,](\d{1,2}))?$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
}

/** A price in cents as Spanish readers write it: `9,99`, `10,00`, `1.234,50`. */
export function formatPrice(cents: number): string {
  return new Intl.NumberFormat('es-ES', {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
    useGrouping: true,
  }).format(cents / 100);
}
