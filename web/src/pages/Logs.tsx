import { useState } from 'react';
import { Badge, Button, Card, Code, Drawer, Group, Select, SimpleGrid, Stack, Table, Text, TextInput } from '@mantine/core';
import { api, items, qs, type Log, type LogStat, type Page } from '../api';
import { isAdmin, useAuth } from '../auth';
import { useT, type TFunc } from '../i18n';
import { useLoad } from '../hooks';
import { DataTable, ErrorAlert, ListState, PageHeader, Pager } from '../components/common';
import { dateTime, fromLocalInput, num, usd } from '../format';
import { Link } from '../router';

const TYPE_COLORS: Record<number, string> = { 1: 'teal', 2: 'blue', 3: 'violet', 4: 'gray', 5: 'red' };

export function logType(t: TFunc, type: number) {
  return (
    <Badge color={TYPE_COLORS[type] ?? 'gray'} variant="light">
      {t(`logs.type.${type}`)}
    </Badge>
  );
}

interface Filters {
  type: string;
  username: string;
  token_name: string;
  model_name: string;
  channel: string;
  group: string;
  start: string;
  end: string;
}

const noFilters: Filters = { type: '', username: '', token_name: '', model_name: '', channel: '', group: '', start: '', end: '' };

/** The pricing detail a consume log keeps in `other` (relay/usage.go). */
interface Other {
  model_ratio?: number;
  completion_ratio?: number;
  cache_ratio?: number;
  group_ratio?: number;
  model_price?: number;
  cached_tokens?: number;
  cost?: number;
  upstream_model?: string;
  usage_source?: string;
  unpaid?: number;
  stream_error?: string;
  [k: string]: unknown;
}

export function parseOther(s: string): Other | null {
  if (!s) return null;
  try {
    const v = JSON.parse(s);
    return v && typeof v === 'object' ? (v as Other) : null;
  } catch {
    return null;
  }
}

function Row({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <Group justify="space-between" wrap="nowrap" gap="md">
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text component="div" size="sm" ta="right" style={{ wordBreak: 'break-all' }}>
        {children}
      </Text>
    </Group>
  );
}

/** One log in full: tokens, the price breakdown from `other`, and timing. */
export function LogDetail({ log }: { log: Log }) {
  const { t } = useT();
  const o = parseOther(log.other);
  const cached = o?.cached_tokens ?? 0;
  const known = new Set(['model_ratio', 'completion_ratio', 'cache_ratio', 'group_ratio', 'model_price', 'cached_tokens', 'cost', 'upstream_model', 'usage_source', 'unpaid', 'stream_error']);
  const extra = o ? Object.entries(o).filter(([k]) => !known.has(k)) : [];
  // The billing formula (CONTRACT.md) with this log's numbers, so an
  // operator can check a charge by hand.
  const formula =
    o && o.model_price === undefined && o.model_ratio !== undefined
      ? `(${log.prompt_tokens - cached} + ${cached} × ${o.cache_ratio ?? 1} + ${log.completion_tokens} × ${o.completion_ratio ?? 1}) × ${o.model_ratio} × ${o.group_ratio ?? 1}`
      : o && o.model_price !== undefined
        ? `${o.model_price} × QuotaPerUnit × ${o.group_ratio ?? 1}`
        : null;
  return (
    <Stack data-testid="log-detail">
      <Card withBorder>
        <Text fw={600} mb="xs">
          {t('logs.request')}
        </Text>
        <Stack gap={4}>
          <Row label={t('logs.time')}>{dateTime(log.created_at)}</Row>
          <Row label={t('logs.typeLabel')}>{logType(t, log.type)}</Row>
          <Row label={t('field.username')}>{log.username || '—'}</Row>
          <Row label={t('logs.token')}>{log.token_name || '—'}</Row>
          <Row label={t('field.model')}>{log.model_name || '—'}</Row>
          {o?.upstream_model && o.upstream_model !== log.model_name && <Row label={t('logs.upstreamModel')}>{o.upstream_model}</Row>}
          <Row label={t('logs.channel')}>{log.channel || '—'}</Row>
          <Row label={t('field.group')}>{log.group || '—'}</Row>
          <Row label={t('logs.requestId')}>{log.request_id || '—'}</Row>
        </Stack>
      </Card>
      <Card withBorder>
        <Text fw={600} mb="xs">
          {t('logs.tokens')}
        </Text>
        <Stack gap={4}>
          <Row label={t('logs.prompt')}>{num(log.prompt_tokens)}</Row>
          <Row label={t('logs.cached')}>{num(cached)}</Row>
          <Row label={t('logs.completion')}>{num(log.completion_tokens)}</Row>
          <Row label={t('logs.total')}>{num(log.prompt_tokens + log.completion_tokens)}</Row>
          {o?.usage_source && <Row label={t('logs.usageSource')}>{o.usage_source}</Row>}
        </Stack>
      </Card>
      <Card withBorder>
        <Text fw={600} mb="xs">
          {t('logs.price')}
        </Text>
        <Stack gap={4}>
          {o?.model_price !== undefined ? (
            <Row label={t('pricing.perCall')}>${o.model_price}</Row>
          ) : (
            <>
              <Row label={t('pricing.modelRatio')}>{o?.model_ratio ?? '—'}</Row>
              <Row label={t('pricing.completionRatio')}>{o?.completion_ratio ?? '—'}</Row>
              <Row label={t('pricing.cacheRatio')}>{o?.cache_ratio ?? '—'}</Row>
            </>
          )}
          <Row label={t('pricing.groupRatio')}>{o?.group_ratio ?? '—'}</Row>
          {formula && (
            <Row label={t('logs.formula')}>
              <Code>{formula}</Code>
            </Row>
          )}
          <Row label={t('logs.charged')}>
            <b>{usd(log.quota)}</b> ({num(log.quota)})
          </Row>
          {o?.unpaid ? <Row label={t('logs.unpaid')}>{num(o.unpaid)}</Row> : null}
          {extra.map(([k, v]) => (
            <Row key={k} label={k}>
              {typeof v === 'object' ? JSON.stringify(v) : String(v)}
            </Row>
          ))}
        </Stack>
      </Card>
      <Card withBorder>
        <Text fw={600} mb="xs">
          {t('logs.timing')}
        </Text>
        <Stack gap={4}>
          <Row label={t('logs.useTime')}>{t('logs.seconds', { n: log.use_time })}</Row>
          <Row label={t('logs.stream')}>{log.is_stream ? t('common.yes') : t('common.no')}</Row>
          {o?.stream_error && <Row label={t('logs.streamError')}>{o.stream_error}</Row>}
        </Stack>
      </Card>
      {log.content && (
        <Card withBorder>
          <Text fw={600} mb="xs">
            {t('logs.content')}
          </Text>
          <Text size="sm" style={{ wordBreak: 'break-word' }}>
            {log.content}
          </Text>
        </Card>
      )}
    </Stack>
  );
}

export default function Logs() {
  const { t } = useT();
  const { user } = useAuth();
  const admin = isAdmin(user);
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(20);
  const [draft, setDraft] = useState<Filters>(noFilters);
  const [applied, setApplied] = useState<Filters>(noFilters);
  const [open, setOpen] = useState<Log | null>(null);
  const base = admin ? '/api/log/' : '/api/log/self';
  const params = {
    type: applied.type,
    username: admin ? applied.username : '',
    token_name: applied.token_name,
    model_name: applied.model_name,
    channel: admin ? applied.channel : '',
    group: applied.group,
    start_timestamp: fromLocalInput(applied.start) || '',
    end_timestamp: fromLocalInput(applied.end) || '',
  };
  const list = useLoad(() => api<Page<Log>>('GET', `${base}${qs({ ...params, p: page, page_size: size })}`), [base, applied, page, size]);
  const stat = useLoad(() => api<LogStat>('GET', `${admin ? '/api/log/stat' : '/api/log/self/stat'}${qs(params)}`), [admin, applied]);
  const rows = items(list.data);
  const filtered = JSON.stringify(applied) !== JSON.stringify(noFilters);
  const set = (p: Partial<Filters>) => setDraft((d) => ({ ...d, ...p }));

  return (
    <Stack>
      <PageHeader title={t('nav.logs')}>
        <Button size="xs" variant="default" onClick={() => (list.reload(), stat.reload())} loading={list.loading}>
          {t('common.refresh')}
        </Button>
      </PageHeader>
      <Card withBorder>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setPage(1);
            setApplied({ ...draft });
          }}
        >
          <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }} spacing="xs">
            <Select
              size="xs"
              label={t('logs.typeLabel')}
              clearable
              value={draft.type || null}
              onChange={(v) => set({ type: v ?? '' })}
              data={[1, 2, 3, 4, 5].map((n) => ({ value: String(n), label: t(`logs.type.${n}`) }))}
            />
            {admin && <TextInput size="xs" label={t('field.username')} value={draft.username} onChange={(e) => set({ username: e.currentTarget.value })} />}
            <TextInput size="xs" label={t('logs.token')} value={draft.token_name} onChange={(e) => set({ token_name: e.currentTarget.value })} />
            <TextInput size="xs" label={t('field.model')} value={draft.model_name} onChange={(e) => set({ model_name: e.currentTarget.value })} />
            {admin && <TextInput size="xs" label={t('logs.channelId')} inputMode="numeric" value={draft.channel} onChange={(e) => set({ channel: e.currentTarget.value.replace(/\D/g, '') })} />}
            <TextInput size="xs" label={t('field.group')} value={draft.group} onChange={(e) => set({ group: e.currentTarget.value })} />
            <TextInput size="xs" type="datetime-local" label={t('logs.from')} value={draft.start} onChange={(e) => set({ start: e.currentTarget.value })} />
            <TextInput size="xs" type="datetime-local" label={t('logs.to')} value={draft.end} onChange={(e) => set({ end: e.currentTarget.value })} />
          </SimpleGrid>
          <Group mt="sm" gap="xs" justify="space-between" wrap="wrap">
            <Text size="sm" data-testid="log-stat">
              {stat.data ? t('logs.stat', { quota: usd(stat.data.quota), rpm: stat.data.rpm, tpm: stat.data.tpm }) : stat.loading ? t('common.loading') : ''}
            </Text>
            <Group gap="xs">
              <Button
                size="xs"
                variant="default"
                onClick={() => {
                  setDraft(noFilters);
                  setApplied(noFilters);
                  setPage(1);
                }}
              >
                {t('common.reset')}
              </Button>
              <Button size="xs" type="submit">
                {t('common.apply')}
              </Button>
            </Group>
          </Group>
        </form>
        <ErrorAlert error={stat.error} />
      </Card>
      <ListState
        list={list}
        hasData={rows.length > 0}
        filtered={filtered}
        emptyTitle={t('logs.empty')}
        emptyHint={t('logs.emptyHint')}
        action={
          <Button component={Link} to="/playground" size="xs" variant="light">
            {t('nav.playground')}
          </Button>
        }
      >
        <DataTable
          minWidth={1150}
          testid="logs-table"
          columns={[
            t('logs.time'),
            t('logs.typeLabel'),
            admin && t('field.username'),
            t('logs.token'),
            t('field.model'),
            admin && t('logs.channel'),
            t('logs.prompt'),
            t('logs.completion'),
            t('logs.charged'),
            t('logs.useTime'),
            null,
          ]}
        >
          {rows.map((l) => (
            <Table.Tr key={l.id} style={{ cursor: 'pointer' }} onClick={() => setOpen(l)} data-testid="log-row">
              <Table.Td style={{ whiteSpace: 'nowrap' }}>{dateTime(l.created_at)}</Table.Td>
              <Table.Td style={{ minWidth: 110 }}>{logType(t, l.type)}</Table.Td>
              {admin && <Table.Td>{l.username}</Table.Td>}
              <Table.Td>{l.token_name || '—'}</Table.Td>
              <Table.Td>{l.model_name || (l.type === 3 || l.type === 4 ? <Text size="xs">{l.content}</Text> : '—')}</Table.Td>
              {admin && <Table.Td>{l.channel || '—'}</Table.Td>}
              <Table.Td>{num(l.prompt_tokens)}</Table.Td>
              <Table.Td>{num(l.completion_tokens)}</Table.Td>
              <Table.Td data-testid="log-quota">{usd(l.quota)}</Table.Td>
              <Table.Td>
                {l.use_time}s{l.is_stream ? ` · ${t('logs.stream')}` : ''}
              </Table.Td>
              <Table.Td>
                <Button size="xs" variant="subtle">
                  {t('logs.details')}
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </DataTable>
        <Pager page={page} pageSize={size} total={list.data?.total ?? 0} onPage={setPage} onPageSize={(s) => (setSize(s), setPage(1))} />
      </ListState>
      <Drawer opened={!!open} onClose={() => setOpen(null)} position="right" size="md" title={t('logs.detailTitle', { id: open?.id ?? '' })}>
        {open && <LogDetail log={open} />}
      </Drawer>
    </Stack>
  );
}
