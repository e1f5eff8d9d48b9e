import { useMemo, useState } from 'react';
import { Badge, Card, Group, Select, Stack, Table, Text, TextInput } from '@mantine/core';
import { apiRaw, type PricingRow } from '../api';
import { useT } from '../i18n';
import { useLoad } from '../hooks';
import { DataTable, ListState, PageHeader } from '../components/common';

interface PricingAnswer {
  rows: PricingRow[];
  groupRatio: Record<string, number>;
  usable: string[] | null;
}

/** USD per million tokens for a ratio: ratio 1 is $0.002 per 1K tokens. */
export function perMillion(ratio: number, groupRatio: number) {
  return ratio * 2 * groupRatio;
}

function money(v: number) {
  if (v === 0) return '$0';
  return `$${v < 0.01 ? v.toFixed(6) : v < 1 ? v.toFixed(4) : v.toFixed(2)}`;
}

export default function Pricing() {
  const { t } = useT();
  const [group, setGroup] = useState<string | null>(null);
  const [search, setSearch] = useState('');
  const load = useLoad(async (): Promise<PricingAnswer> => {
    const env = await apiRaw<PricingRow[]>('GET', '/api/pricing');
    return {
      rows: env.data ?? [],
      groupRatio: (env.group_ratio as Record<string, number>) ?? {},
      usable: env.usable_group ? Object.keys(env.usable_group as Record<string, string>).sort() : null,
    };
  }, []);
  const groups = load.data ? (load.data.usable ?? Object.keys(load.data.groupRatio).sort()) : [];
  const current = group ?? (groups.includes('default') ? 'default' : (groups[0] ?? 'default'));
  const gr = load.data?.groupRatio[current] ?? 1;
  const rows = useMemo(
    () => (load.data?.rows ?? []).filter((r) => r.model_name.toLowerCase().includes(search.trim().toLowerCase())),
    [load.data, search],
  );

  return (
    <Stack>
      <PageHeader title={t('nav.pricing')}>
        <TextInput size="xs" placeholder={t('pricing.search')} aria-label={t('common.search')} value={search} onChange={(e) => setSearch(e.currentTarget.value)} />
        <Select size="xs" w={160} aria-label={t('field.group')} data={groups} value={current} onChange={setGroup} allowDeselect={false} />
      </PageHeader>
      {load.data && (
        <Card withBorder p="sm">
          <Group gap="xs" wrap="wrap">
            <Text size="sm" fw={600}>
              {t('pricing.groupRatios')}:
            </Text>
            {Object.entries(load.data.groupRatio)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([g, r]) => (
                <Badge key={g} variant={g === current ? 'filled' : 'light'} style={{ textTransform: 'none' }}>
                  {g} × {r}
                </Badge>
              ))}
          </Group>
          <Text size="xs" c="dimmed" mt={4}>
            {t('pricing.explain')}
          </Text>
        </Card>
      )}
      <ListState list={load} hasData={rows.length > 0} filtered={!!search} emptyTitle={t('pricing.empty')} emptyHint={t('pricing.emptyHint')}>
        <DataTable
          minWidth={850}
          hover={false}
          testid="pricing-table"
          columns={[
            t('field.model'),
            t('pricing.billing'),
            t('pricing.input'),
            t('pricing.output'),
            t('pricing.modelRatio'),
            t('pricing.completionRatio'),
            t('pricing.cacheRatio'),
            t('pricing.groups'),
          ]}
        >
          {rows.map((r) => (
            <Table.Tr key={r.model_name}>
              <Table.Td>{r.model_name}</Table.Td>
              <Table.Td>{r.quota_type === 1 ? t('pricing.perCall') : t('pricing.perToken')}</Table.Td>
              {r.quota_type === 1 ? (
                <Table.Td colSpan={2}>
                  {money(r.model_price * gr)} / {t('pricing.call')}
                </Table.Td>
              ) : (
                <>
                  <Table.Td>{money(perMillion(r.model_ratio, gr))} / 1M</Table.Td>
                  <Table.Td>{money(perMillion(r.model_ratio * r.completion_ratio, gr))} / 1M</Table.Td>
                </>
              )}
              <Table.Td>{r.quota_type === 1 ? '—' : r.model_ratio}</Table.Td>
              <Table.Td>{r.quota_type === 1 ? '—' : r.completion_ratio}</Table.Td>
              <Table.Td>{r.quota_type === 1 ? '—' : r.cache_ratio}</Table.Td>
              <Table.Td>
                <Group gap={4}>
                  {r.enable_groups.map((g) => (
                    <Badge key={g} size="xs" variant="outline" style={{ textTransform: 'none' }}>
                      {g}
                    </Badge>
                  ))}
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </DataTable>
      </ListState>
    </Stack>
  );
}
