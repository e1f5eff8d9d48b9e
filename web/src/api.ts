// The admin API client: every /api call goes through here so the session
// header, the error envelope and the "logged out" signal are handled once.

/** An API call that failed: its HTTP status and the server's message. */
export class ApiError extends Error {
  status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = 'ApiError';
  }
}

const UID_KEY = 'sluice_uid';

/** The logged-in user's id, sent as New-Api-User on every /api call. */
export function getUserId(): number | null {
  const v = localStorage.getItem(UID_KEY);
  const n = v ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : null;
}

export function setUserId(id: number | null) {
  if (id) localStorage.setItem(UID_KEY, String(id));
  else localStorage.removeItem(UID_KEY);
}

let unauthorizedHandler: (() => void) | null = null;

/** Registers what happens when a call answers 401 (the session ended). */
export function onUnauthorized(fn: (() => void) | null) {
  unauthorizedHandler = fn;
}

/** The envelope every admin answer uses. */
export interface Envelope<T> {
  success: boolean;
  message: string;
  data: T;
  [extra: string]: unknown;
}

/** A paged list answer. */
export interface Page<T> {
  items: T[] | null;
  total: number;
  page: number;
  page_size: number;
}

/** Builds a query string, leaving out empty values. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

/** Sends a request and returns the whole envelope (for answers with fields beside data). */
export async function apiRaw<T = unknown>(method: string, path: string, body?: unknown): Promise<Envelope<T>> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const uid = getUserId();
  if (uid) headers['New-Api-User'] = String(uid);
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (e) {
    throw new ApiError(0, `network error: ${(e as Error).message}`);
  }
  let json: Envelope<T> | null = null;
  try {
    json = (await res.json()) as Envelope<T>;
  } catch {
    json = null;
  }
  if (res.status === 401 && path !== '/api/user/login' && unauthorizedHandler) unauthorizedHandler();
  if (!json) throw new ApiError(res.status, `HTTP ${res.status} ${res.statusText}`.trim());
  if (!res.ok || json.success === false) {
    const msg =
      json.message ||
      (json.error as { message?: string } | undefined)?.message ||
      `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return json;
}

/** Sends a request and returns its data. */
export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  return (await apiRaw<T>(method, path, body)).data;
}

/** Items of a page, never null. */
export function items<T>(p: Page<T> | null | undefined): T[] {
  return p?.items ?? [];
}

// Shapes of the admin API (docs/admin-api.md).

export interface User {
  id: number;
  username: string;
  display_name: string;
  email?: string;
  role: number;
  status: number;
  group: string;
  quota: number;
  used_quota: number;
  request_count: number;
}

export interface Token {
  id: number;
  user_id: number;
  name: string;
  key: string;
  status: number;
  created_time: number;
  accessed_time: number;
  expired_time: number;
  remain_quota: number;
  unlimited_quota: boolean;
  used_quota: number;
  model_limits_enabled: boolean;
  model_limits: string;
  allow_ips: string;
  group: string;
}

export interface Channel {
  id: number;
  type: number;
  name: string;
  key?: string;
  base_url: string;
  models: string;
  group: string;
  model_mapping: string;
  priority: number;
  weight: number;
  status: number;
  auto_ban: number;
  tag: string;
  setting: string;
  param_override: string;
  headers: string;
  created_time: number;
  test_time: number;
  response_time: number;
  used_quota: number;
  balance: number;
}

export interface Log {
  id: number;
  user_id: number;
  created_at: number;
  type: number;
  content: string;
  username: string;
  token_name: string;
  token_id: number;
  model_name: string;
  quota: number;
  prompt_tokens: number;
  completion_tokens: number;
  use_time: number;
  is_stream: boolean;
  channel: number;
  group: string;
  request_id: string;
  other: string;
}

export interface LogStat {
  quota: number;
  rpm: number;
  tpm: number;
}

export interface UsageRow {
  model_name: string;
  username: string;
  count: number;
  quota: number;
  token_used: number;
  created_at: number;
}

export interface Redemption {
  id: number;
  user_id: number;
  name: string;
  key: string;
  status: number;
  quota: number;
  created_time: number;
  redeemed_time: number;
  used_user_id: number;
  expired_time: number;
}

export interface PricingRow {
  model_name: string;
  quota_type: number;
  model_ratio: number;
  model_price: number;
  completion_ratio: number;
  cache_ratio: number;
  enable_groups: string[];
}

export interface OptionRow {
  key: string;
  value: string;
}
