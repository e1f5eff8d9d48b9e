import { useMemo, useState } from 'react';
import { Button, Card, Group, Paper, SegmentedControl, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { AreaChart, DonutChart } from '@mantine/charts';
import '@mantine/charts/styles.css';
import { notifications } from '@mantine/notifications';
import { api, items, qs, type LogStat, type Page, type Token, type UsageRow } from '../api';
import { isAdmin, useAuth } from '../auth';
import { useT } from '../i18n';
import { useAction, useLoad } from '../hooks';
import { Empty, ErrorAlert, Loading, PageHeader, submitWith } from '../components/common';
import { Link } from '../router';
import { num, nowUnix, usd } from '../format';
import { rank, timeSeries, type Metric } from '../usage';

const RANGES: Record<string, { seconds: number; bucket: number }> = {
  '24h': { seconds: 86400, bucket: 3600 },
  '7d': { seconds: 7 * 86400, bucket: 86400 },
  '30d': { seconds: 30 * 86400, bucket: 86400 },
};

const COLORS = ['blue.6', 'teal.6', 'orange.6', 'grape.6', 'red.6', 'gray.6'];

function Stat({ label, value, hint, testid }: { label: string; value: string; hint?: string; testid?: string }) {
  return (
    <Paper withBorder p="md" radius="md" data-testid={testid}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={700}>
        {label}
      </Text>
      <Text fw={700} size="xl" mt={4}>
        {value}
      </Text>
      {hint && (
        <Text size="xs" c="dimmed">
          {hint}
        </Text>
      )}
    </Paper>
  );
}

function Redeem({ onDone }: { onDone: () => void }) {
  const { t } = useT();
  const [code, setCode] = useState('');
  const { run: save, busy, error } = useAction(async () => {
    const q = await api<number>('POST', '/api/user/topup', { key: code.trim() });
    notifications.show({ color: 'teal', message: t('dash.redeemed', { quota: usd(q) }) });
    setCode('');
    onDone();
  });
  return (
    <Card withBorder>
      <Text fw={600} mb="xs">
        {t('dash.redeem')}
      </Text>
      <form onSubmit={submitWith(save)}>
        <Group align="flex-end" gap="xs">
          <TextInput style={{ flex: 1 }} placeholder={t('dash.redeemPlaceholder')} value={code} onChange={(e) => setCode(e.currentTarget.value)} />
          <Button type="submit" loading={busy} disabled={!code.trim()}>
            {t('dash.redeemButton')}
          </Button>
        </Group>
      </form>
      {error && (
        <Stack mt="xs">
          <ErrorAlert error={error} />
        </Stack>
      )}
    </Card>
  );
}

export default function Dashboard() {
  const { t } = useT();
  const { user, refresh } = useAuth();
  const admin = isAdmin(user);
  const [scope, setScope] = useState<'self' | 'all'>('self');
  const [range, setRange] = useState('24h');
  const [metric, setMetric] = useState<Metric>('quota');
  const [tick, setTick] = useState(0);
  const all = admin && scope === 'all';
  const { seconds, bucket } = RANGES[range];

  const win = useMemo(() => {
    const end = nowUnix();
    return { start: end - seconds, end: end + 1 };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [seconds, tick]);

  const stat = useLoad(
    () =>
      api<LogStat>('GET', `/api/log/${all ? '' : 'self/'}stat${qs({ type: 2, start_timestamp: win.start, end_timestamp: win.end })}`),
    [all, win],
  );
  const data = useLoad(
    () => api<UsageRow[]>('GET', `/api/data/${all ? '' : 'self'}${qs({ start_timestamp: win.start, end_timestamp: win.end })}`),
    [all, win],
  );
  const tokens = useLoad(() => api<Page<Token>>('GET', '/api/token/?p=1&page_size=100'), [tick]);

  const rows = data.data ?? [];
  const chart = useMemo(() => timeSeries(rows, metric, win.start, win.end, bucket), [rows, metric, win, bucket]);
  const models = useMemo(() => rank(rows, 'model_name'), [rows]);
  const users = useMemo(() => rank(rows, 'username'), [rows]);
  const topKeys = useMemo(() => [...items(tokens.data)].sort((a, b) => b.used_quota - a.used_quota).slice(0, 5), [tokens.data]);
  const totalCount = rows.reduce((s, r) => s + r.count, 0);
  const totalTokens = rows.reduce((s, r) => s + r.token_used, 0);

  const reloadAll = () => {
    setTick((x) => x + 1);
    refresh().catch(() => {});
  };

  return (
    <Stack>
      <PageHeader title={t('nav.dashboard')}>
        {admin && (
          <SegmentedControl
            size="xs"
            value={scope}
            onChange={(v) => setScope(v as 'self' | 'all')}
            data={[
              { value: 'self', label: t('dash.mine') },
              { value: 'all', label: t('dash.everyone') },
            ]}
          />
        )}
        <SegmentedControl size="xs" value={range} onChange={setRange} data={Object.keys(RANGES).map((r) => ({ value: r, label: t(`dash.range.${r}`) }))} />
        <Button size="xs" variant="default" onClick={reloadAll} loading={stat.loading || data.loading}>
          {t('common.refresh')}
        </Button>
      </PageHeader>

      <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }}>
        <Stat testid="stat-balance" label={t('dash.balance')} value={user ? usd(user.quota) : '—'} hint={user ? num(user.quota) : undefined} />
        <Stat testid="stat-used" label={t('dash.used')} value={user ? usd(user.used_quota) : '—'} hint={user ? num(user.used_quota) : undefined} />
        <Stat testid="stat-requests" label={t('dash.requests')} value={user ? num(user.request_count) : '—'} hint={t('dash.allTime')} />
        <Stat testid="stat-spent" label={t('dash.spent')} value={stat.data ? usd(stat.data.quota) : '…'} hint={t(`dash.range.${range}`)} />
        <Stat testid="stat-rpm" label={t('dash.rpm')} value={stat.data ? num(stat.data.rpm) : '…'} hint={t('dash.last60')} />
        <Stat testid="stat-tpm" label={t('dash.tpm')} value={stat.data ? num(stat.data.tpm) : '…'} hint={t('dash.last60')} />
      </SimpleGrid>
      <ErrorAlert error={stat.error} onRetry={stat.reload} />

      <Card withBorder>
        <Group justify="space-between" mb="sm" wrap="wrap">
          <Title order={4}>{t('dash.usageOverTime')}</Title>
          <SegmentedControl
            size="xs"
            value={metric}
            onChange={(v) => setMetric(v as Metric)}
            data={[
              { value: 'quota', label: t('dash.metric.quota') },
              { value: 'count', label: t('dash.metric.count') },
              { value: 'token_used', label: t('dash.metric.tokens') },
            ]}
          />
        </Group>
        {data.error ? (
          <ErrorAlert error={data.error} onRetry={data.reload} />
        ) : data.loading && !data.data ? (
          <Loading />
        ) : rows.length === 0 ? (
          <Empty
            title={t('dash.noUsage')}
            hint={t('dash.noUsageHint')}
            action={
              <Group gap="xs">
                <Button component={Link} to="/keys" size="xs" variant="light">
                  {t('nav.keys')}
                </Button>
                <Button component={Link} to="/playground" size="xs" variant="light">
                  {t('nav.playground')}
                </Button>
              </Group>
            }
          />
        ) : (
          <div data-testid="usage-chart">
            <Text size="xs" c="dimmed" mb="xs">
              {t('dash.totals', { count: num(totalCount), tokens: num(totalTokens) })}
            </Text>
            <AreaChart
              h={260}
              data={chart.points}
              dataKey="time"
              type="stacked"
              withLegend
              legendProps={{ verticalAlign: 'bottom' }}
              valueFormatter={(v) => (metric === 'quota' ? usd(v) : num(v))}
              series={chart.series.map((name, i) => ({ name, color: COLORS[i % COLORS.length] }))}
              curveType="monotone"
              withDots={false}
            />
          </div>
        )}
      </Card>

      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Card withBorder>
          <Title order={4} mb="sm">
            {t('dash.topModels')}
          </Title>
          {models.length === 0 ? (
            <Text size="sm" c="dimmed">
              {t('dash.noUsage')}
            </Text>
          ) : (
            <Group align="flex-start" wrap="nowrap" gap="md">
              <DonutChart
                size={120}
                thickness={20}
                withTooltip
                valueFormatter={(v) => usd(v)}
                data={models.slice(0, 6).map((m, i) => ({ name: m.name, value: m.quota, color: COLORS[i % COLORS.length] }))}
                visibleFrom="xs"
              />
              <Table.ScrollContainer minWidth={300} style={{ flex: 1 }}>
                <Table data-testid="top-models">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>{t('field.model')}</Table.Th>
                      <Table.Th>{t('dash.metric.count')}</Table.Th>
                      <Table.Th>{t('dash.metric.tokens')}</Table.Th>
                      <Table.Th>{t('dash.metric.quota')}</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {models.slice(0, 8).map((m) => (
                      <Table.Tr key={m.name}>
                        <Table.Td>{m.name}</Table.Td>
                        <Table.Td>{num(m.count)}</Table.Td>
                        <Table.Td>{num(m.tokens)}</Table.Td>
                        <Table.Td>{usd(m.quota)}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Group>
          )}
        </Card>
        <Card withBorder>
          <Title order={4} mb="sm">
            {all ? t('dash.topUsers') : t('dash.topKeys')}
          </Title>
          {all ? (
            users.length === 0 ? (
              <Text size="sm" c="dimmed">
                {t('dash.noUsage')}
              </Text>
            ) : (
              <Table>
                <Table.Tbody>
                  {users.slice(0, 8).map((u) => (
                    <Table.Tr key={u.name}>
                      <Table.Td>{u.name}</Table.Td>
                      <Table.Td>{num(u.count)}</Table.Td>
                      <Table.Td>{usd(u.quota)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )
          ) : tokens.error ? (
            <ErrorAlert error={tokens.error} onRetry={tokens.reload} />
          ) : topKeys.length === 0 ? (
            <Empty title={t('keys.empty')} hint={t('keys.emptyHint')} action={<Button component={Link} to="/keys" size="xs">{t('keys.create')}</Button>} />
          ) : (
            <Table data-testid="top-keys">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t('field.name')}</Table.Th>
                  <Table.Th>{t('field.used')}</Table.Th>
                  <Table.Th>{t('field.remaining')}</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {topKeys.map((k) => (
                  <Table.Tr key={k.id}>
                    <Table.Td>{k.name}</Table.Td>
                    <Table.Td>{usd(k.used_quota)}</Table.Td>
                    <Table.Td>{k.unlimited_quota ? t('keys.unlimited') : usd(k.remain_quota)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          )}
        </Card>
      </SimpleGrid>
      <Redeem onDone={reloadAll} />
    </Stack>
  );
}
