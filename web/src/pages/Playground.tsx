import { useEffect, useRef, useState } from 'react';
import {
  Alert,
  Badge,
  Button,
  Card,
  Code,
  Group,
  Paper,
  PasswordInput,
  ScrollArea,
  Select,
  SimpleGrid,
  Stack,
  Text,
  TextInput,
  Textarea,
  Title,
} from '@mantine/core';
import { api, type Token } from '../api';
import { useT } from '../i18n';
import { ErrorAlert, PageHeader } from '../components/common';
import { parseSseChunk, readChunk } from '../sse';

/**
 * The playground's key lives in sessionStorage only: the admin API never
 * returns a key's secret after creation, so the user pastes one or the page
 * creates a fresh key, and the secret goes away with the tab.
 */
const KEY_STORE = 'sluice_playground_key';
const MODEL_STORE = 'sluice_playground_model';

interface Msg {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
}

/** Streams one chat completion, calling onDelta with each piece of text. */
export async function streamChat(
  key: string,
  body: Record<string, unknown>,
  onDelta: (text: string) => void,
  signal?: AbortSignal,
): Promise<{ usage?: Usage; finish?: string }> {
  const res = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!res.ok || !res.body) {
    let msg = `HTTP ${res.status}`;
    try {
      const j = await res.json();
      msg = j?.error?.message ?? j?.message ?? msg;
    } catch {
      // keep the status line
    }
    throw new Error(`${res.status}: ${msg}`);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let usage: Usage | undefined;
  let finish: string | undefined;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    const { events, rest } = parseSseChunk(buf);
    buf = rest;
    for (const ev of events) {
      if (ev.done) return { usage, finish };
      const c = readChunk(ev.data);
      if (c.error) throw new Error(c.error);
      if (c.content) onDelta(c.content);
      if (c.usage) usage = c.usage;
      if (c.finish) finish = c.finish;
    }
  }
  return { usage, finish };
}

function KeyPicker({ onKey }: { onKey: (k: string) => void }) {
  const { t } = useT();
  const [paste, setPaste] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  return (
    <Card withBorder>
      <Title order={4} mb="xs">
        {t('play.needKey')}
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        {t('play.needKeyHint')}
      </Text>
      <SimpleGrid cols={{ base: 1, sm: 2 }}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (paste.trim()) onKey(paste.trim());
          }}
        >
          <Stack gap="xs">
            <PasswordInput label={t('play.pasteKey')} placeholder="sk-..." value={paste} onChange={(e) => setPaste(e.currentTarget.value)} data-testid="paste-key" />
            <Button type="submit" disabled={!paste.trim().startsWith('sk-')} data-testid="use-key">
              {t('play.useKey')}
            </Button>
          </Stack>
        </form>
        <Stack gap="xs" justify="flex-end">
          <Text size="sm">{t('play.createHint')}</Text>
          <Button
            variant="light"
            loading={busy}
            onClick={async () => {
              setBusy(true);
              setError(null);
              try {
                const tk = await api<Token>('POST', '/api/token/', { name: `playground-${new Date().toISOString().slice(0, 16)}`, unlimited_quota: true, expired_time: -1 });
                onKey(tk.key);
              } catch (e) {
                setError(e as Error);
              } finally {
                setBusy(false);
              }
            }}
          >
            {t('play.createKey')}
          </Button>
        </Stack>
      </SimpleGrid>
      {error && <ErrorAlert error={error} />}
    </Card>
  );
}

export default function Playground() {
  const { t } = useT();
  const [key, setKeyState] = useState<string>(() => sessionStorage.getItem(KEY_STORE) ?? '');
  const [models, setModels] = useState<string[]>([]);
  const [modelsError, setModelsError] = useState<Error | null>(null);
  const [model, setModelState] = useState<string>(() => sessionStorage.getItem(MODEL_STORE) ?? '');
  const setModel = (m: string | ((cur: string) => string)) =>
    setModelState((cur) => {
      const next = typeof m === 'function' ? m(cur) : m;
      sessionStorage.setItem(MODEL_STORE, next);
      return next;
    });
  const [system, setSystem] = useState('');
  const [messages, setMessages] = useState<Msg[]>([]);
  const [input, setInput] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [usage, setUsage] = useState<Usage | null>(null);
  const abort = useRef<AbortController | null>(null);
  const viewport = useRef<HTMLDivElement>(null);

  const setKey = (k: string) => {
    if (k) sessionStorage.setItem(KEY_STORE, k);
    else sessionStorage.removeItem(KEY_STORE);
    setKeyState(k);
  };

  useEffect(() => {
    if (!key) return;
    let cancelled = false;
    setModelsError(null);
    fetch('/v1/models', { headers: { Authorization: `Bearer ${key}` } })
      .then(async (r) => {
        const j = await r.json().catch(() => null);
        if (!r.ok) throw new Error(`${r.status}: ${j?.error?.message ?? r.statusText}`);
        return ((j?.data ?? []) as { id: string }[]).map((m) => m.id).sort();
      })
      .then((ids) => {
        if (cancelled) return;
        setModels(ids);
        setModel((m) => (m && ids.includes(m) ? m : (ids[0] ?? '')));
      })
      .catch((e: Error) => !cancelled && setModelsError(e));
    return () => {
      cancelled = true;
    };
  }, [key]);

  useEffect(() => {
    viewport.current?.scrollTo({ top: viewport.current.scrollHeight });
  }, [messages]);

  async function send() {
    const text = input.trim();
    if (!text || !model) return;
    const history: Msg[] = [...messages, { role: 'user', content: text }];
    setMessages([...history, { role: 'assistant', content: '' }]);
    setInput('');
    setBusy(true);
    setError(null);
    setUsage(null);
    const ctrl = new AbortController();
    abort.current = ctrl;
    try {
      const body = { model, messages: system.trim() ? [{ role: 'system', content: system.trim() }, ...history] : history };
      const r = await streamChat(
        key,
        body,
        (d) =>
          setMessages((ms) => {
            const copy = ms.slice();
            const last = copy[copy.length - 1];
            copy[copy.length - 1] = { ...last, content: last.content + d };
            return copy;
          }),
        ctrl.signal,
      );
      if (r.usage) setUsage(r.usage);
    } catch (e) {
      if ((e as Error).name !== 'AbortError') {
        setError(e as Error);
        // Drop the empty answer bubble of a refused request.
        setMessages((ms) => (ms.length && ms[ms.length - 1].role === 'assistant' && !ms[ms.length - 1].content ? ms.slice(0, -1) : ms));
      }
    } finally {
      setBusy(false);
      abort.current = null;
    }
  }

  return (
    <Stack>
      <PageHeader title={t('nav.playground')}>
        {key && (
          <>
            <Badge variant="light" style={{ textTransform: 'none' }}>
              {t('play.usingKey', { key: `${key.slice(0, 6)}…${key.slice(-4)}` })}
            </Badge>
            <Button size="xs" variant="default" onClick={() => setKey('')}>
              {t('play.forgetKey')}
            </Button>
          </>
        )}
      </PageHeader>
      {!key ? (
        <KeyPicker onKey={setKey} />
      ) : (
        <>
          <SimpleGrid cols={{ base: 1, sm: 2 }}>
            {models.length > 0 ? (
              <Select label={t('field.model')} data={models} value={model} onChange={(v) => setModel(v ?? '')} searchable allowDeselect={false} data-testid="model-select" />
            ) : (
              <TextInput label={t('field.model')} value={model} onChange={(e) => setModel(e.currentTarget.value)} placeholder="gpt-4o-mini" data-testid="model-input" />
            )}
            <TextInput label={t('play.system')} value={system} onChange={(e) => setSystem(e.currentTarget.value)} placeholder={t('play.systemHint')} />
          </SimpleGrid>
          {modelsError && (
            <Alert color="yellow" variant="light" title={t('play.modelsFailed')}>
              {modelsError.message}
            </Alert>
          )}
          {!modelsError && models.length === 0 && (
            <Text size="sm" c="dimmed">
              {t('play.noModels')}
            </Text>
          )}
          <Paper withBorder p="sm" h={360}>
            <ScrollArea h="100%" viewportRef={viewport}>
              {messages.length === 0 ? (
                <Text c="dimmed" size="sm" ta="center" mt="xl">
                  {t('play.empty')}
                </Text>
              ) : (
                <Stack gap="xs" data-testid="chat-messages">
                  {messages.map((m, i) => (
                    <Group key={i} justify={m.role === 'user' ? 'flex-end' : 'flex-start'}>
                      <Paper
                        p="xs"
                        radius="md"
                        maw="85%"
                        bg={m.role === 'user' ? 'var(--mantine-color-blue-light)' : 'var(--mantine-color-default-hover)'}
                        data-testid={`msg-${m.role}`}
                      >
                        <Text size="sm" style={{ whiteSpace: 'pre-wrap', wordBreak: 'break-word' }}>
                          {m.content || (busy && i === messages.length - 1 ? '…' : '')}
                        </Text>
                      </Paper>
                    </Group>
                  ))}
                </Stack>
              )}
            </ScrollArea>
          </Paper>
          <ErrorAlert error={error} title={t('play.refused')} />
          {usage && (
            <Text size="xs" c="dimmed" data-testid="chat-usage">
              {t('play.usage', { p: usage.prompt_tokens, c: usage.completion_tokens })}
            </Text>
          )}
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void send();
            }}
          >
            <Group align="flex-end" gap="xs" wrap="nowrap">
              <Textarea
                style={{ flex: 1 }}
                autosize
                minRows={1}
                maxRows={6}
                placeholder={t('play.placeholder')}
                value={input}
                onChange={(e) => setInput(e.currentTarget.value)}
                onKeyDown={(e) => {
                  if (e.key === 'Enter' && !e.shiftKey) {
                    e.preventDefault();
                    void send();
                  }
                }}
                data-testid="chat-input"
              />
              {busy ? (
                <Button color="red" variant="light" onClick={() => abort.current?.abort()}>
                  {t('play.stop')}
                </Button>
              ) : (
                <Button type="submit" disabled={!input.trim() || !model} data-testid="chat-send">
                  {t('play.send')}
                </Button>
              )}
              <Button variant="default" onClick={() => (setMessages([]), setUsage(null), setError(null))} disabled={busy}>
                {t('play.clear')}
              </Button>
            </Group>
          </form>
          <Text size="xs" c="dimmed">
            {t('play.keyNote')} <Code>sessionStorage</Code>
          </Text>
        </>
      )}
    </Stack>
  );
}
