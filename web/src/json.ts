// Validation and diffing of the JSON-object settings (ratios, prices,
// model mapping, headers).

export type JsonCheck = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

/**
 * Parses text as a JSON object whose values all have the given kind.
 * An empty text is the empty object. The error says what is wrong and where,
 * in words an operator can act on.
 */
export function parseJsonObject(text: string, kind: 'number' | 'string' | 'any' = 'any'): JsonCheck {
  const src = text.trim();
  if (src === '') return { ok: true, value: {} };
  let v: unknown;
  try {
    v = JSON.parse(src);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return { ok: false, error: 'must be a JSON object like {"key": value}' };
  }
  const obj = v as Record<string, unknown>;
  if (kind !== 'any') {
    for (const [k, val] of Object.entries(obj)) {
      if (kind === 'number' && (typeof val !== 'number' || !Number.isFinite(val) || val < 0)) {
        return { ok: false, error: `"${k}" must be a non-negative number` };
      }
      if (kind === 'string' && typeof val !== 'string') {
        return { ok: false, error: `"${k}" must be a string` };
      }
    }
  }
  return { ok: true, value: obj };
}

/** Pretty-prints a JSON object string with sorted keys; returns the input unchanged if it is not JSON. */
export function prettyJson(text: string): string {
  const r = parseJsonObject(text);
  if (!r.ok) return text;
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(r.value).sort()) sorted[k] = r.value[k];
  return JSON.stringify(sorted, null, 2);
}

/** One changed key between two objects. */
export interface DiffEntry {
  key: string;
  kind: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

/** The keys that differ between before and after, sorted by key. */
export function diffObjects(before: Record<string, unknown>, after: Record<string, unknown>): DiffEntry[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const out: DiffEntry[] = [];
  for (const key of [...keys].sort()) {
    const inB = Object.prototype.hasOwnProperty.call(before, key);
    const inA = Object.prototype.hasOwnProperty.call(after, key);
    if (inB && !inA) out.push({ key, kind: 'removed', before: before[key] });
    else if (!inB && inA) out.push({ key, kind: 'added', after: after[key] });
    else if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) out.push({ key, kind: 'changed', before: before[key], after: after[key] });
  }
  return out;
}

/** Rows of a string→string JSON object, for the key/value editor. */
export function objectToRows(text: string): { from: string; to: string }[] {
  const r = parseJsonObject(text);
  if (!r.ok) return [];
  return Object.entries(r.value).map(([from, to]) => ({ from, to: String(to) }));
}

/** The JSON object of non-empty rows; empty when there are none. */
export function rowsToObject(rows: { from: string; to: string }[]): string {
  const o: Record<string, string> = {};
  for (const { from, to } of rows) {
    if (from.trim() && to.trim()) o[from.trim()] = to.trim();
  }
  return Object.keys(o).length ? JSON.stringify(o, null, 2) : '';
}
