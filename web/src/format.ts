// Display helpers for quota, money, time and sizes.

/** Quota units per US dollar unless the operator changed QuotaPerUnit. */
export const DEFAULT_QUOTA_PER_UNIT = 500000;

let quotaPerUnit = DEFAULT_QUOTA_PER_UNIT;

/** Sets the QuotaPerUnit used for dollar amounts (read from the options by root). */
export function setQuotaPerUnit(v: number) {
  if (Number.isFinite(v) && v > 0) quotaPerUnit = v;
}

export function getQuotaPerUnit() {
  return quotaPerUnit;
}

/** Quota as US dollars, e.g. "$0.0123". */
export function usd(quota: number): string {
  const d = quota / quotaPerUnit;
  const abs = Math.abs(d);
  const digits = abs === 0 ? 2 : abs < 0.01 ? 6 : abs < 1 ? 4 : 2;
  return `$${d.toFixed(digits)}`;
}

/** Quota with thousands separators and its dollar value. */
export function quotaText(quota: number): string {
  return `${num(quota)} (${usd(quota)})`;
}

export function num(n: number): string {
  return new Intl.NumberFormat('en-US').format(Math.round(n));
}

/** A unix time (seconds) as local "YYYY-MM-DD HH:mm:ss". */
export function dateTime(unix: number): string {
  if (!unix || unix <= 0) return '—';
  const d = new Date(unix * 1000);
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A datetime-local input's value for a unix time, and back. */
export function toLocalInput(unix: number): string {
  if (!unix || unix <= 0) return '';
  return dateTime(unix).replace(' ', 'T').slice(0, 16);
}

export function fromLocalInput(v: string): number {
  if (!v) return 0;
  const t = new Date(v).getTime();
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

export function nowUnix() {
  return Math.floor(Date.now() / 1000);
}

/** Splits "a,b\nc" into trimmed, non-empty, de-duplicated entries. */
export function splitList(s: string | null | undefined): string[] {
  const out: string[] = [];
  for (const part of (s ?? '').split(/[,\n]/)) {
    const v = part.trim();
    if (v && !out.includes(v)) out.push(v);
  }
  return out;
}
