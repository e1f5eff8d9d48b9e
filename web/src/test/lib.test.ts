import { describe, expect, it } from 'vitest';
import { parseSseChunk, readChunk } from '../sse';
import { diffObjects, objectToRows, parseJsonObject, prettyJson, rowsToObject } from '../json';
import { rank, timeSeries } from '../usage';
import { num, splitList, usd } from '../format';
import { translate } from '../i18n';
import { en, zh } from '../locales';
import { qs } from '../api';

describe('SSE parsing', () => {
  it('keeps an event split across reads for the next read', () => {
    const a = parseSseChunk('data: {"choices":[{"delta":{"content":"He"}}]}\n\ndata: {"choi');
    expect(a.events).toHaveLength(1);
    expect(a.rest).toBe('data: {"choi');
    const b = parseSseChunk(a.rest + 'ces":[{"delta":{"content":"llo"}}]}\r\n\r\ndata: [DONE]\n\n');
    expect(b.events).toHaveLength(2);
    expect(b.events[1]).toEqual({ done: true });
    expect(readChunk((b.events[0] as { data: unknown }).data).content).toBe('llo');
  });

  it('reads usage, finish and error events', () => {
    expect(readChunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 4 } }).usage).toEqual({ prompt_tokens: 3, completion_tokens: 4 });
    expect(readChunk({ choices: [{ delta: {}, finish_reason: 'stop' }] }).finish).toBe('stop');
    expect(readChunk({ error: { message: 'upstream timed out' } }).error).toBe('upstream timed out');
  });

  it('skips comments and malformed events', () => {
    const r = parseSseChunk(': keep-alive\n\ndata: {bad json\n\ndata: {"choices":[]}\n\n');
    expect(r.events).toHaveLength(1);
  });
});

describe('JSON settings', () => {
  it('validates ratio objects with a message that names the key', () => {
    expect(parseJsonObject('{"a": 1, "b": 0.5}', 'number').ok).toBe(true);
    expect(parseJsonObject('', 'number')).toEqual({ ok: true, value: {} });
    const bad = parseJsonObject('{"a": "x"}', 'number');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toContain('"a"');
    expect(parseJsonObject('[1,2]').ok).toBe(false);
    expect(parseJsonObject('{"a": -1}', 'number').ok).toBe(false);
    expect(parseJsonObject('{oops').ok).toBe(false);
  });

  it('diffs objects by key', () => {
    const d = diffObjects({ a: 1, b: 2, c: 3 }, { a: 1, b: 5, d: 4 });
    expect(d).toEqual([
      { key: 'b', kind: 'changed', before: 2, after: 5 },
      { key: 'c', kind: 'removed', before: 3 },
      { key: 'd', kind: 'added', after: 4 },
    ]);
  });

  it('round-trips the model mapping rows', () => {
    const rows = objectToRows('{"gpt-4o":"gpt-4o-2024-08-06"}');
    expect(rows).toEqual([{ from: 'gpt-4o', to: 'gpt-4o-2024-08-06' }]);
    expect(JSON.parse(rowsToObject([...rows, { from: ' ', to: 'x' }]))).toEqual({ 'gpt-4o': 'gpt-4o-2024-08-06' });
    expect(rowsToObject([])).toBe('');
    expect(prettyJson('{"b":1,"a":2}')).toBe('{\n  "a": 2,\n  "b": 1\n}');
  });
});

describe('usage aggregation', () => {
  const rows = [
    { model_name: 'm1', username: 'u', count: 2, quota: 10, token_used: 100, created_at: 3600 },
    { model_name: 'm2', username: 'v', count: 1, quota: 30, token_used: 50, created_at: 7200 },
    { model_name: 'm1', username: 'v', count: 1, quota: 5, token_used: 10, created_at: 7200 },
  ];
  it('ranks by quota', () => {
    expect(rank(rows, 'model_name').map((r) => [r.name, r.quota, r.count])).toEqual([
      ['m2', 30, 1],
      ['m1', 15, 3],
    ]);
    expect(rank(rows, 'username')[0].name).toBe('v');
  });
  it('fills every bucket and folds small models into "other"', () => {
    const s = timeSeries(rows, 'count', 0, 4 * 3600, 3600, 1);
    expect(s.series).toEqual(['m2', 'other']);
    expect(s.points).toHaveLength(4);
    expect(s.points[1].other).toBe(2);
    expect(s.points[2]).toMatchObject({ m2: 1, other: 1 });
    expect(s.points[0]).toMatchObject({ m2: 0, other: 0 });
  });
});

describe('formatting', () => {
  it('shows quota as dollars at 500000 per dollar', () => {
    expect(usd(100000000)).toBe('$200.00');
    expect(usd(3)).toBe('$0.000006');
    expect(usd(250000)).toBe('$0.5000');
    expect(usd(0)).toBe('$0.00');
    expect(num(1234567)).toBe('1,234,567');
  });
  it('splits lists and builds query strings without empty values', () => {
    expect(splitList('a, b\nc,,a')).toEqual(['a', 'b', 'c']);
    expect(qs({ p: 1, keyword: '', x: undefined, m: 'a b' })).toBe('?p=1&m=a+b');
    expect(qs({})).toBe('');
  });
});

describe('i18n', () => {
  it('interpolates and falls back to English, then the key', () => {
    expect(translate('en', 'common.total', { n: 5 })).toBe('5 in total');
    expect(translate('zh', 'common.total', { n: 5 })).toBe('共 5 条');
    expect(translate('zh', 'no.such.key')).toBe('no.such.key');
  });

  it('has every key in both languages, and Chinese for each', () => {
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    for (const [k, v] of Object.entries(zh)) expect(v, k).not.toBe('');
  });

  it('defines every key the source uses', () => {
    // Every source file as text, through Vite's glob import (no Node APIs).
    const sources = import.meta.glob(['../**/*.{ts,tsx}', '!../test/**'], { query: '?raw', import: 'default', eager: true }) as Record<string, string>;
    expect(Object.keys(sources).length).toBeGreaterThan(10);
    const missing = new Set<string>();
    for (const [f, text] of Object.entries(sources)) {
      for (const m of text.matchAll(/\bt\(\s*'([a-zA-Z0-9_.]+)'/g)) if (!(m[1] in en)) missing.add(`${m[1]} (${f})`);
      for (const m of text.matchAll(/label: '([a-z]+\.[a-zA-Z0-9_.]+)'/g)) if (!(m[1] in en)) missing.add(`${m[1]} (${f})`);
    }
    expect([...missing]).toEqual([]);
  });
});
