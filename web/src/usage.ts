// Turns /api/data rows (hourly usage per user and model) into chart series
// and rankings for the dashboard.
import type { UsageRow } from './api';

export type Metric = 'quota' | 'count' | 'token_used';

export interface Ranked {
  name: string;
  count: number;
  quota: number;
  tokens: number;
}

/** Totals per model (or per user), largest quota first. */
export function rank(rows: UsageRow[], by: 'model_name' | 'username'): Ranked[] {
  const m = new Map<string, Ranked>();
  for (const r of rows) {
    const name = r[by] || '—';
    const cur = m.get(name) ?? { name, count: 0, quota: 0, tokens: 0 };
    cur.count += r.count;
    cur.quota += r.quota;
    cur.tokens += r.token_used;
    m.set(name, cur);
  }
  return [...m.values()].sort((a, b) => b.quota - a.quota || b.count - a.count || a.name.localeCompare(b.name));
}

/**
 * Chart points over [start, end): one per bucket (an hour or a day), with
 * one series per top model and the rest summed as "other", so a chart stays
 * readable with many models. Empty buckets are zero, not missing, so the
 * time axis is even.
 */
export function timeSeries(
  rows: UsageRow[],
  metric: Metric,
  start: number,
  end: number,
  bucket: number,
  topN = 5,
): { points: Record<string, string | number>[]; series: string[] } {
  const top = rank(rows, 'model_name')
    .slice(0, topN)
    .map((r) => r.name);
  const hasOther = rank(rows, 'model_name').length > topN;
  const series = hasOther ? [...top, 'other'] : top;
  const first = Math.floor(start / bucket) * bucket;
  const points: Record<string, string | number>[] = [];
  const index = new Map<number, Record<string, string | number>>();
  for (let t = first; t < end; t += bucket) {
    const p: Record<string, string | number> = { time: bucketLabel(t, bucket) };
    for (const s of series) p[s] = 0;
    points.push(p);
    index.set(t, p);
  }
  for (const r of rows) {
    const t = Math.floor(r.created_at / bucket) * bucket;
    const p = index.get(t);
    if (!p) continue;
    const s = top.includes(r.model_name) ? r.model_name : 'other';
    p[s] = (p[s] as number) + r[metric];
  }
  return { points, series };
}

function bucketLabel(unix: number, bucket: number): string {
  const d = new Date(unix * 1000);
  const p = (x: number) => String(x).padStart(2, '0');
  if (bucket >= 86400) return `${p(d.getMonth() + 1)}-${p(d.getDate())}`;
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:00`;
}
