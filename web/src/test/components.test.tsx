import { describe, expect, it, vi } from 'vitest';
import { fireEvent, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ErrorAlert, Empty, PageState } from '../components/common';
import { JsonDiff } from '../components/JsonDiff';
import { KeyValueEditor } from '../components/KeyValueEditor';
import { LangSwitch } from '../components/chrome';
import { SecretModal, TokenForm } from '../pages/Tokens';
import { LogDetail } from '../pages/Logs';
import { streamChat } from '../pages/Playground';
import { LoginPage } from '../pages/Login';
import { AuthProvider } from '../auth';
import { useT } from '../i18n';
import { getUserId, type Log } from '../api';
import { mockFetch, renderUI } from './render';
import { useState } from 'react';

describe('error, empty and loading states', () => {
  it('shows the API message and a retry', async () => {
    const retry = vi.fn();
    renderUI(<ErrorAlert error={new Error('channel not found')} onRetry={retry} />);
    expect(screen.getByRole('alert')).toHaveTextContent('channel not found');
    await userEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(retry).toHaveBeenCalled();
  });

  it('PageState shows progress, then the empty hint, then the content', () => {
    const empty = <Empty title="No keys" hint="Create one" />;
    const { rerender } = renderUI(
      <PageState loading error={null} hasData={false} empty={empty}>
        content
      </PageState>,
    );
    expect(screen.getByTestId('loading')).toBeInTheDocument();
    rerender(
      <PageState loading={false} error={null} hasData={false} empty={empty}>
        content
      </PageState>,
    );
    expect(screen.getByTestId('empty')).toHaveTextContent('Create one');
  });
});

describe('language switch', () => {
  function Probe() {
    const { t } = useT();
    return (
      <>
        <LangSwitch />
        <span data-testid="label">{t('nav.dashboard')}</span>
      </>
    );
  }
  it('switches between English and Chinese and remembers the choice', async () => {
    renderUI(<Probe />);
    expect(screen.getByTestId('label')).toHaveTextContent('Dashboard');
    await userEvent.click(screen.getByText('中文'));
    expect(screen.getByTestId('label')).toHaveTextContent('仪表盘');
    expect(localStorage.getItem('sluice_lang')).toBe('zh');
  });
});

describe('JSON diff and key/value editor', () => {
  it('lists added, removed and changed keys', () => {
    renderUI(
      <JsonDiff
        entries={[
          { key: 'a', kind: 'added', after: 1 },
          { key: 'b', kind: 'removed', before: 2 },
          { key: 'c', kind: 'changed', before: 1, after: 3 },
        ]}
      />,
    );
    const table = screen.getByTestId('json-diff');
    expect(table).toHaveTextContent('added');
    expect(table).toHaveTextContent('removed');
    expect(table).toHaveTextContent('changed');
  });

  it('edits the model mapping as rows and emits JSON', async () => {
    function Host() {
      const [v, setV] = useState('{"a":"b"}');
      return (
        <>
          <KeyValueEditor label="Mapping" fromLabel="From" toLabel="To" value={v} onChange={setV} />
          <pre data-testid="out">{v}</pre>
        </>
      );
    }
    renderUI(<Host />);
    await userEvent.click(screen.getByRole('button', { name: 'Add a row' }));
    const froms = screen.getAllByLabelText('From');
    const tos = screen.getAllByLabelText('To');
    fireEvent.change(froms[1], { target: { value: 'gpt-4o' } });
    fireEvent.change(tos[1], { target: { value: 'gpt-4o-2024' } });
    expect(JSON.parse(screen.getByTestId('out').textContent!)).toEqual({ a: 'b', 'gpt-4o': 'gpt-4o-2024' });
  });
});

describe('API keys', () => {
  it('creates a key with limits, sending the API shape', async () => {
    const m = mockFetch({
      'POST /api/token/': (body) => [200, { success: true, data: { ...(body as object), id: 3, key: 'sk-secret' } }],
    });
    vi.stubGlobal('fetch', m.fn);
    const saved = vi.fn();
    renderUI(
      <TokenForm
        initial={{ name: '', unlimited_quota: true, remain_quota: 0, never_expires: true, expired_at: '', model_limits_enabled: false, model_limits: [], allow_ips: '', group: '' }}
        groups={['default']}
        onSaved={saved}
        onCancel={() => {}}
      />,
    );
    await userEvent.type(screen.getByLabelText(/Name/), 'ci');
    await userEvent.click(screen.getByLabelText('Unlimited quota'));
    const quota = screen.getByLabelText('Quota');
    await userEvent.clear(quota);
    await userEvent.type(quota, '1000');
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }));
    await waitFor(() => expect(saved).toHaveBeenCalled());
    expect(m.calls[0].body).toMatchObject({ name: 'ci', unlimited_quota: false, remain_quota: 1000, expired_time: -1, model_limits_enabled: false });
    expect(saved.mock.calls[0][0].key).toBe('sk-secret');
  });

  it('shows the server refusal in the form', async () => {
    vi.stubGlobal('fetch', mockFetch({ 'POST /api/token/': () => [400, { success: false, message: 'group vip is not available to this account' }] }).fn);
    renderUI(
      <TokenForm
        initial={{ name: 'x', unlimited_quota: true, remain_quota: 0, never_expires: true, expired_at: '', model_limits_enabled: false, model_limits: [], allow_ips: '', group: 'vip' }}
        groups={['vip']}
        onSaved={() => {}}
        onCancel={() => {}}
      />,
    );
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('group vip is not available');
  });

  it('shows the new secret once with a working copy button', async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(window, 'isSecureContext', { value: true, configurable: true });
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    renderUI(<SecretModal secret="sk-abc123" onClose={() => {}} />);
    expect(await screen.findByTestId('new-key-secret')).toHaveTextContent('sk-abc123');
    expect(screen.getByText(/shown only once/)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Copy key' }));
    expect(writeText).toHaveBeenCalledWith('sk-abc123');
    expect(await screen.findByRole('button', { name: 'Copied' })).toBeInTheDocument();
  });
});

describe('login', () => {
  it('stores the user id for the New-Api-User header after logging in', async () => {
    vi.stubGlobal(
      'fetch',
      mockFetch({
        'GET /api/status': () => [200, { success: true, data: { setup: true } }],
        'POST /api/user/login': () => [200, { success: true, data: { id: 42, username: 'root', role: 100 } }],
      }).fn,
    );
    renderUI(
      <AuthProvider>
        <LoginPage />
      </AuthProvider>,
    );
    await userEvent.type(screen.getByLabelText(/Username/), 'root');
    await userEvent.type(screen.getByLabelText(/Password/), 'secret-password');
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }));
    await waitFor(() => expect(getUserId()).toBe(42));
  });

  it('shows a wrong password', async () => {
    vi.stubGlobal(
      'fetch',
      mockFetch({
        'GET /api/status': () => [200, { success: true, data: { setup: true } }],
        'POST /api/user/login': () => [401, { success: false, message: 'wrong username or password' }],
      }).fn,
    );
    renderUI(
      <AuthProvider>
        <LoginPage />
      </AuthProvider>,
    );
    await userEvent.type(screen.getByLabelText(/Username/), 'root');
    await userEvent.type(screen.getByLabelText(/Password/), 'nope-nope');
    await userEvent.click(screen.getByRole('button', { name: 'Log in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('wrong username or password');
    expect(getUserId()).toBeNull();
  });
});

describe('log detail', () => {
  it('shows tokens, the price breakdown from other, and timing', () => {
    const log: Log = {
      id: 9,
      user_id: 1,
      created_at: 1700000000,
      type: 2,
      content: 'model ratio 0.075',
      username: 'root',
      token_name: 'k',
      token_id: 1,
      model_name: 'gpt-4o-mini',
      quota: 3,
      prompt_tokens: 11,
      completion_tokens: 7,
      use_time: 2,
      is_stream: true,
      channel: 1,
      group: 'default',
      request_id: 'req-1',
      other: JSON.stringify({ model_ratio: 0.075, completion_ratio: 4, cache_ratio: 0.5, group_ratio: 1, cached_tokens: 0, upstream_model: 'gpt-4o-mini', usage_source: 'upstream' }),
    };
    renderUI(<LogDetail log={log} />);
    const d = screen.getByTestId('log-detail');
    expect(d).toHaveTextContent('Prompt11');
    expect(d).toHaveTextContent('Completion7');
    expect(d).toHaveTextContent('(11 + 0 × 0.5 + 7 × 4) × 0.075 × 1');
    expect(d).toHaveTextContent('$0.000006');
    expect(d).toHaveTextContent('2 s');
  });
});

describe('playground streaming', () => {
  function sseResponse(parts: string[]) {
    const enc = new TextEncoder();
    return new Response(
      new ReadableStream({
        start(c) {
          for (const p of parts) c.enqueue(enc.encode(p));
          c.close();
        },
      }),
      { status: 200, headers: { 'Content-Type': 'text/event-stream' } },
    );
  }

  it('streams deltas and returns the usage', async () => {
    const fetchMock = vi.fn(async () =>
      sseResponse([
        'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\nda',
        'ta: {"choices":[{"delta":{"content":"lo"}}]}\n\n',
        'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\ndata: [DONE]\n\n',
      ]),
    );
    vi.stubGlobal('fetch', fetchMock);
    const pieces: string[] = [];
    const r = await streamChat('sk-x', { model: 'm', messages: [] }, (d) => pieces.push(d));
    expect(pieces).toEqual(['Hel', 'lo']);
    expect(r.usage).toEqual({ prompt_tokens: 5, completion_tokens: 2 });
    const [, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer sk-x');
    expect(JSON.parse(init.body as string)).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it('reports a refused key with its status and message', async () => {
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify({ error: { message: 'this API key is disabled', type: 'invalid_request_error' } }), { status: 403 }));
    await expect(streamChat('sk-x', { model: 'm', messages: [] }, () => {})).rejects.toThrow('403: this API key is disabled');
  });

  it('reports an error event inside the stream', async () => {
    vi.stubGlobal('fetch', async () => sseResponse(['data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 'data: {"error":{"message":"upstream timed out"}}\n\n']));
    await expect(streamChat('sk-x', { model: 'm', messages: [] }, () => {})).rejects.toThrow('upstream timed out');
  });
});
