import { useState } from 'react';
import {
  Badge,
  Button,
  Card,
  Divider,
  Group,
  Modal,
  NumberInput,
  Select,
  SimpleGrid,
  Stack,
  Switch,
  Table,
  TagsInput,
  Text,
  TextInput,
  Textarea,
  Tooltip,
} from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { api, apiRaw, items, qs, type Channel, type Page } from '../api';
import { useT, type TFunc } from '../i18n';
import { useAction, useLoad } from '../hooks';
import { ConfirmButton, DataTable, ErrorAlert, FormActions, ListState, PageHeader, Pager, SearchForm, submitWith } from '../components/common';
import { JsonField, KeyValueEditor } from '../components/KeyValueEditor';
import { parseJsonObject } from '../json';
import { dateTime, splitList, usd } from '../format';

/** Channel types by new-api's numbers (docs: CONTRACT.md). */
export const CHANNEL_TYPES: { value: string; label: string }[] = [
  { value: '1', label: 'OpenAI' },
  { value: '3', label: 'Azure OpenAI' },
  { value: '4', label: 'Ollama' },
  { value: '8', label: 'Custom (OpenAI-compatible)' },
  { value: '14', label: 'Anthropic' },
  { value: '20', label: 'OpenRouter' },
  { value: '24', label: 'Gemini' },
  { value: '33', label: 'AWS Bedrock' },
  { value: '41', label: 'Vertex AI' },
  { value: '42', label: 'Mistral' },
  { value: '43', label: 'DeepSeek' },
  { value: '48', label: 'xAI' },
];

export function typeName(type: number) {
  return CHANNEL_TYPES.find((x) => x.value === String(type))?.label ?? `#${type}`;
}

export function channelStatus(t: TFunc, s: number) {
  const m: Record<number, [string, string]> = {
    1: ['green', t('status.enabled')],
    2: ['gray', t('status.disabled')],
    3: ['red', t('status.autoDisabled')],
  };
  const [color, label] = m[s] ?? ['gray', String(s)];
  return (
    <Badge color={color} variant="light">
      {label}
    </Badge>
  );
}

interface Draft {
  id?: number;
  type: number;
  name: string;
  key: string;
  base_url: string;
  models: string[];
  group: string[];
  model_mapping: string;
  priority: number;
  weight: number;
  status: number;
  auto_ban: number;
  tag: string;
  setting: string;
  param_override: string;
  headers: string;
  rest?: Partial<Channel>;
}

const emptyDraft: Draft = {
  type: 1,
  name: '',
  key: '',
  base_url: '',
  models: [],
  group: ['default'],
  model_mapping: '',
  priority: 0,
  weight: 0,
  status: 1,
  auto_ban: 1,
  tag: '',
  setting: '',
  param_override: '',
  headers: '',
};

function toDraft(c: Channel): Draft {
  return {
    id: c.id,
    type: c.type,
    name: c.name,
    key: '',
    base_url: c.base_url,
    models: splitList(c.models),
    group: splitList(c.group),
    model_mapping: c.model_mapping,
    priority: c.priority,
    weight: c.weight,
    status: c.status,
    auto_ban: c.auto_ban,
    tag: c.tag,
    setting: c.setting,
    param_override: c.param_override,
    headers: c.headers,
    rest: c,
  };
}

function toBody(d: Draft) {
  return {
    ...(d.rest ?? {}),
    id: d.id,
    type: d.type,
    name: d.name.trim(),
    key: d.key.trim(),
    base_url: d.base_url.trim(),
    models: d.models.join(','),
    group: d.group.join(',') || 'default',
    model_mapping: d.model_mapping.trim(),
    priority: d.priority,
    weight: d.weight,
    status: d.status,
    auto_ban: d.auto_ban,
    tag: d.tag.trim(),
    setting: d.setting.trim(),
    param_override: d.param_override.trim(),
    headers: d.headers.trim(),
  };
}

/** Create and edit a channel, with a model picker fed by the upstream's model list. */
export function ChannelForm({
  initial,
  groups,
  onSaved,
  onCancel,
}: {
  initial: Draft;
  groups: string[];
  onSaved: (c: Channel) => void;
  onCancel: () => void;
}) {
  const { t } = useT();
  const [d, setD] = useState<Draft>(initial);
  const { run: save, busy, error } = useAction(async () => {
    const c = await api<Channel>(d.id ? 'PUT' : 'POST', '/api/channel/', toBody(d));
    onSaved(c);
  });
  const [fetched, setFetched] = useState<string[]>([]);
  const [fetching, setFetching] = useState(false);
  const [fetchError, setFetchError] = useState<Error | null>(null);
  const set = (p: Partial<Draft>) => setD((x) => ({ ...x, ...p }));
  const jsonOk =
    parseJsonObject(d.model_mapping, 'string').ok &&
    parseJsonObject(d.headers, 'string').ok &&
    parseJsonObject(d.param_override).ok &&
    parseJsonObject(d.setting).ok;

  async function fetchModels() {
    setFetching(true);
    setFetchError(null);
    try {
      const ids =
        d.id && !d.key.trim()
          ? await api<string[]>('GET', `/api/channel/fetch_models/${d.id}`)
          : await api<string[]>('POST', '/api/channel/fetch_models', { type: d.type, base_url: d.base_url.trim(), key: d.key.trim() });
      setFetched(ids);
      if (ids.length === 0) setFetchError(new Error(t('channels.fetchedNone')));
    } catch (e) {
      setFetchError(e as Error);
    } finally {
      setFetching(false);
    }
  }

  return (
    <form onSubmit={submitWith(save)}>
      <Stack>
        <ErrorAlert error={error} />
        <SimpleGrid cols={{ base: 1, sm: 2 }}>
          <Select
            label={t('channels.type')}
            data={CHANNEL_TYPES}
            value={String(d.type)}
            onChange={(v) => v && set({ type: Number(v) })}
            allowDeselect={false}
            searchable
            name="type"
          />
          <TextInput label={t('field.name')} required name="name" value={d.name} onChange={(e) => set({ name: e.currentTarget.value })} />
        </SimpleGrid>
        <TextInput
          label={t('channels.baseUrl')}
          description={t('channels.baseUrlHint')}
          name="base_url"
          placeholder="https://api.openai.com"
          value={d.base_url}
          onChange={(e) => set({ base_url: e.currentTarget.value })}
        />
        <Textarea
          label={t('field.key')}
          description={d.id ? t('channels.keyKeep') : t('channels.keyHint')}
          name="key"
          required={!d.id}
          autosize
          minRows={1}
          value={d.key}
          onChange={(e) => set({ key: e.currentTarget.value })}
        />
        <Stack gap={4}>
          <TagsInput
            label={t('channels.models')}
            description={t('channels.modelsHint')}
            name="models"
            data={fetched}
            value={d.models}
            onChange={(v) => set({ models: v })}
            clearable
            splitChars={[',', ' ']}
            data-testid="models-input"
          />
          <Group gap="xs">
            <Button size="xs" variant="light" onClick={fetchModels} loading={fetching} data-testid="fetch-models">
              {t('channels.fetchModels')}
            </Button>
            {fetched.length > 0 && (
              <>
                <Button size="xs" variant="subtle" onClick={() => set({ models: [...new Set([...d.models, ...fetched])] })}>
                  {t('channels.addAllFetched', { n: fetched.length })}
                </Button>
                <Button size="xs" variant="subtle" onClick={() => set({ models: fetched })}>
                  {t('channels.replaceWithFetched')}
                </Button>
              </>
            )}
          </Group>
          {fetched.length > 0 && (
            <Group gap={4} data-testid="fetched-models">
              {fetched.map((m) => {
                const on = d.models.includes(m);
                return (
                  <Badge
                    key={m}
                    variant={on ? 'filled' : 'outline'}
                    style={{ cursor: 'pointer', textTransform: 'none' }}
                    onClick={() => set({ models: on ? d.models.filter((x) => x !== m) : [...d.models, m] })}
                  >
                    {m}
                  </Badge>
                );
              })}
            </Group>
          )}
          <ErrorAlert error={fetchError} title={t('channels.fetchFailed')} />
        </Stack>
        <TagsInput label={t('field.group')} data={groups} value={d.group} onChange={(v) => set({ group: v })} splitChars={[',', ' ']} />
        <KeyValueEditor
          label={t('channels.mapping')}
          fromLabel={t('channels.mappingFrom')}
          toLabel={t('channels.mappingTo')}
          value={d.model_mapping}
          onChange={(v) => set({ model_mapping: v })}
          suggestions={d.models}
        />
        <SimpleGrid cols={{ base: 1, sm: 3 }}>
          <NumberInput label={t('channels.priority')} description={t('channels.priorityHint')} value={d.priority} onChange={(v) => set({ priority: Number(v) || 0 })} />
          <NumberInput label={t('channels.weight')} description={t('channels.weightHint')} min={0} value={d.weight} onChange={(v) => set({ weight: Math.max(0, Number(v) || 0) })} />
          <TextInput label={t('channels.tag')} description={t('channels.tagHint')} value={d.tag} onChange={(e) => set({ tag: e.currentTarget.value })} />
        </SimpleGrid>
        <Group>
          <Switch label={t('status.enabled')} checked={d.status === 1} onChange={(e) => set({ status: e.currentTarget.checked ? 1 : 2 })} />
          <Switch label={t('channels.autoBan')} checked={d.auto_ban === 1} onChange={(e) => set({ auto_ban: e.currentTarget.checked ? 1 : 0 })} />
        </Group>
        <Divider label={t('channels.advanced')} labelPosition="left" />
        <JsonField label={t('channels.headers')} description={t('channels.headersHint')} kind="string" value={d.headers} onChange={(v) => set({ headers: v })} placeholder='{"X-Org": "acme"}' />
        <JsonField
          label={t('channels.paramOverride')}
          description={t('channels.paramOverrideHint')}
          value={d.param_override}
          onChange={(v) => set({ param_override: v })}
          placeholder='{"temperature": 0.2}'
        />
        <JsonField label={t('channels.setting')} value={d.setting} onChange={(v) => set({ setting: v })} placeholder="{}" />
        <FormActions onCancel={onCancel} busy={busy} disabled={!jsonOk || !d.name.trim() || d.models.length === 0 || (!d.id && !d.key.trim())}>
          {d.id ? t('common.save') : t('channels.create')}
        </FormActions>
      </Stack>
    </form>
  );
}

function TagActions({ onDone }: { onDone: () => void }) {
  const { t } = useT();
  const [tag, setTag] = useState('');
  const { run, busy, error } = useAction(async (action: 'enabled' | 'disabled') => {
    const r = await api<{ channels: number }>('POST', `/api/channel/tag/${action}`, { tag: tag.trim() });
    notifications.show({ color: 'teal', message: t(action === 'enabled' ? 'channels.tagEnabled' : 'channels.tagDisabled', { n: r.channels, tag }) });
    onDone();
  });
  return (
    <Card withBorder p="sm">
      <Group gap="xs" align="flex-end" wrap="wrap">
        <TextInput size="xs" label={t('channels.byTag')} placeholder={t('channels.tag')} value={tag} onChange={(e) => setTag(e.currentTarget.value)} />
        <Button size="xs" variant="light" color="green" disabled={!tag.trim()} loading={busy} onClick={() => run('enabled')}>
          {t('channels.enableTag')}
        </Button>
        <Button size="xs" variant="light" color="orange" disabled={!tag.trim()} loading={busy} onClick={() => run('disabled')}>
          {t('channels.disableTag')}
        </Button>
      </Group>
      {error && <ErrorAlert error={error} />}
    </Card>
  );
}

export default function Channels() {
  const { t } = useT();
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(20);
  const [keyword, setKeyword] = useState('');
  const [filter, setFilter] = useState({ keyword: '', status: '' });
  const [editing, setEditing] = useState<Draft | null>(null);
  const [busyId, setBusyId] = useState<number | null>(null);
  const [actionError, setActionError] = useState<Error | null>(null);
  const [testingAll, setTestingAll] = useState(false);
  const list = useLoad(
    () => api<Page<Channel>>('GET', `/api/channel/search${qs({ p: page, page_size: size, keyword: filter.keyword, status: filter.status })}`),
    [page, size, filter],
  );
  const groups = useLoad(() => api<string[]>('GET', '/api/group/'), []);
  const rows = items(list.data);
  const filtered = !!(filter.keyword || filter.status);

  async function act(id: number, fn: () => Promise<string>) {
    setBusyId(id);
    setActionError(null);
    try {
      const msg = await fn();
      notifications.show({ color: 'teal', message: msg });
      list.reload();
    } catch (e) {
      setActionError(e as Error);
    } finally {
      setBusyId(null);
    }
  }

  async function test(c: Channel) {
    await act(c.id, async () => {
      // The answer is new-api's {success, message, time}: time sits beside
      // the envelope rather than in data; a failed test throws its message.
      const r = await apiRaw<unknown>('GET', `/api/channel/test/${c.id}`);
      return t('channels.testOk', { name: c.name, ms: Math.round(Number(r.time ?? 0) * 1000) });
    });
  }

  async function testAll() {
    setTestingAll(true);
    setActionError(null);
    try {
      const r = await api<{ channels: number }>('GET', '/api/channel/test');
      notifications.show({ color: 'blue', message: t('channels.testAllStarted', { n: r.channels }) });
      // The tests run in the background; show their response times once
      // the first ones are likely done.
      setTimeout(list.reload, 4000);
    } catch (e) {
      setActionError(e as Error);
    } finally {
      setTestingAll(false);
    }
  }

  return (
    <Stack>
      <PageHeader title={t('nav.channels')}>
        <SearchForm
          value={keyword}
          onChange={setKeyword}
          onSearch={(k) => {
            setPage(1);
            setFilter((f) => ({ ...f, keyword: k }));
          }}
          placeholder={t('channels.searchHint')}
        >
          <Select
            size="xs"
            w={150}
            placeholder={t('field.status')}
            aria-label={t('field.status')}
            clearable
            value={filter.status || null}
            onChange={(v) => {
              setPage(1);
              setFilter((f) => ({ ...f, status: v ?? '' }));
            }}
            data={[
              { value: '1', label: t('status.enabled') },
              { value: '2', label: t('status.disabled') },
              { value: '3', label: t('status.autoDisabled') },
            ]}
          />
        </SearchForm>
        <Button size="xs" variant="light" onClick={testAll} loading={testingAll}>
          {t('channels.testAll')}
        </Button>
        <Button size="xs" onClick={() => setEditing({ ...emptyDraft })} data-testid="create-channel">
          {t('channels.create')}
        </Button>
      </PageHeader>
      <TagActions onDone={list.reload} />
      <ErrorAlert error={actionError} />
      <ListState
        list={list}
        hasData={rows.length > 0}
        filtered={filtered}
        emptyTitle={t('channels.empty')}
        emptyHint={t('channels.emptyHint')}
        action={
          <Button size="xs" onClick={() => setEditing({ ...emptyDraft })}>
            {t('channels.create')}
          </Button>
        }
      >
        <DataTable
          minWidth={1100}
          testid="channels-table"
          columns={[
            'ID',
            t('field.name'),
            t('channels.type'),
            t('field.status'),
            t('channels.models'),
            t('channels.priority'),
            t('channels.weight'),
            t('channels.responseTime'),
            t('field.used'),
            t('channels.tag'),
            t('common.actions'),
          ]}
        >
          {rows.map((c) => (
            <Table.Tr key={c.id} data-testid={`channel-row-${c.name}`}>
              <Table.Td>{c.id}</Table.Td>
              <Table.Td>{c.name}</Table.Td>
              <Table.Td>{typeName(c.type)}</Table.Td>
              <Table.Td>{channelStatus(t, c.status)}</Table.Td>
              <Table.Td maw={220}>
                <Tooltip label={c.models} multiline maw={400}>
                  <Text size="sm" truncate>
                    {c.models}
                  </Text>
                </Tooltip>
              </Table.Td>
              <Table.Td>{c.priority}</Table.Td>
              <Table.Td>{c.weight}</Table.Td>
              <Table.Td data-testid="response-time">
                {c.test_time > 0 ? (
                  <Tooltip label={dateTime(c.test_time)}>
                    <Text size="sm">{c.response_time} ms</Text>
                  </Tooltip>
                ) : (
                  <Text size="sm" c="dimmed">
                    {t('channels.untested')}
                  </Text>
                )}
              </Table.Td>
              <Table.Td>{usd(c.used_quota)}</Table.Td>
              <Table.Td>{c.tag || '—'}</Table.Td>
              <Table.Td>
                <Group gap={4} wrap="nowrap">
                  <Button size="xs" variant="light" loading={busyId === c.id} onClick={() => test(c)}>
                    {t('channels.test')}
                  </Button>
                  <Button size="xs" variant="default" onClick={() => setEditing(toDraft(c))}>
                    {t('common.edit')}
                  </Button>
                  <Button
                    size="xs"
                    variant="light"
                    color={c.status === 1 ? 'orange' : 'green'}
                    onClick={() =>
                      act(c.id, async () => {
                        await api('PUT', '/api/channel/', { ...c, key: '', status: c.status === 1 ? 2 : 1 });
                        return c.status === 1 ? t('channels.disabled') : t('channels.enabled');
                      })
                    }
                  >
                    {c.status === 1 ? t('common.disable') : t('common.enable')}
                  </Button>
                  <ConfirmButton
                    message={t('channels.confirmDelete', { name: c.name })}
                    onConfirm={() =>
                      act(c.id, async () => {
                        await api('DELETE', `/api/channel/${c.id}`);
                        return t('common.deleted');
                      })
                    }
                  >
                    {t('common.delete')}
                  </ConfirmButton>
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </DataTable>
        <Pager page={page} pageSize={size} total={list.data?.total ?? 0} onPage={setPage} onPageSize={(s) => (setSize(s), setPage(1))} />
      </ListState>
      <Modal opened={!!editing} onClose={() => setEditing(null)} title={editing?.id ? t('channels.edit') : t('channels.create')} size="xl">
        {editing && (
          <ChannelForm
            initial={editing}
            groups={groups.data ?? ['default']}
            onCancel={() => setEditing(null)}
            onSaved={() => {
              setEditing(null);
              notifications.show({ color: 'teal', message: t('common.saved') });
              list.reload();
            }}
          />
        )}
      </Modal>
      <Text size="xs" c="dimmed">
        {t('channels.footnote')}
      </Text>
    </Stack>
  );
}
