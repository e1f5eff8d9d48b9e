import { describe, expect, it, vi } from 'vitest';
import { api, ApiError, onUnauthorized, setUserId } from '../api';
import { mockFetch } from './render';

describe('api client', () => {
  it('sends New-Api-User once logged in and returns data', async () => {
    const m = mockFetch({ 'GET /api/user/self': () => [200, { success: true, message: '', data: { id: 7 } }] });
    vi.stubGlobal('fetch', m.fn);
    setUserId(7);
    const d = await api<{ id: number }>('GET', '/api/user/self');
    expect(d.id).toBe(7);
    expect(m.calls[0].headers['New-Api-User']).toBe('7');
  });

  it('throws the server message for success=false and for HTTP errors', async () => {
    vi.stubGlobal(
      'fetch',
      mockFetch({
        'POST /api/token/': () => [200, { success: false, message: 'name is required' }],
        'GET /api/option/': () => [403, { success: false, message: 'insufficient privileges' }],
      }).fn,
    );
    await expect(api('POST', '/api/token/', {})).rejects.toThrow('name is required');
    const err = (await api('GET', '/api/option/').catch((e) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(403);
    expect(err.message).toBe('insufficient privileges');
  });

  it('reports a 401 so the app can return to the login page', async () => {
    vi.stubGlobal('fetch', mockFetch({ 'GET /api/token/': () => [401, { success: false, message: 'not logged in' }] }).fn);
    const seen = vi.fn();
    onUnauthorized(seen);
    await expect(api('GET', '/api/token/')).rejects.toThrow('not logged in');
    expect(seen).toHaveBeenCalledOnce();
    onUnauthorized(null);
  });

  it('turns a non-JSON answer and a network failure into readable errors', async () => {
    vi.stubGlobal('fetch', async () => new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
    await expect(api('GET', '/api/status')).rejects.toThrow('HTTP 502 Bad Gateway');
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(api('GET', '/api/status')).rejects.toThrow('network error: Failed to fetch');
  });
});
