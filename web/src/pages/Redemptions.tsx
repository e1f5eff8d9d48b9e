import { useState } from 'react';
import { Badge, Button, Code, Group, Modal, NumberInput, Stack, Table, TextInput } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { api, items, qs, type Page, type Redemption } from '../api';
import { useT, type TFunc } from '../i18n';
import { useAction, useLoad } from '../hooks';
import { ConfirmButton, DataTable, ErrorAlert, FormActions, ListState, PageHeader, Pager, RevealModal, SearchForm, submitWith } from '../components/common';
import { dateTime, fromLocalInput, num, usd } from '../format';

function status(t: TFunc, r: Redemption) {
  if (r.status === 3) return <Badge color="gray">{t('redeem.used')}</Badge>;
  if (r.status === 2) return <Badge color="orange">{t('status.disabled')}</Badge>;
  if (r.expired_time > 0 && r.expired_time * 1000 < Date.now()) return <Badge color="red">{t('status.expired')}</Badge>;
  return <Badge color="green">{t('redeem.unused')}</Badge>;
}

function CreateForm({ onCreated, onCancel }: { onCreated: (codes: string[]) => void; onCancel: () => void }) {
  const { t } = useT();
  const [name, setName] = useState('');
  const [quota, setQuota] = useState(500000);
  const [count, setCount] = useState(1);
  const [expiry, setExpiry] = useState('');
  const { run: save, busy, error } = useAction(async () => {
    const codes = await api<string[]>('POST', '/api/redemption/', { name: name.trim(), quota, count, expired_time: fromLocalInput(expiry) });
    onCreated(codes);
  });
  return (
    <form onSubmit={submitWith(save)}>
      <Stack>
        <ErrorAlert error={error} />
        <TextInput label={t('field.name')} required value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <NumberInput label={t('redeem.quota')} description={`≈ ${usd(quota || 0)}`} min={1} step={500000} thousandSeparator="," value={quota} onChange={(v) => setQuota(Number(v) || 0)} />
        <NumberInput label={t('redeem.count')} min={1} max={100} value={count} onChange={(v) => setCount(Number(v) || 1)} />
        <TextInput type="datetime-local" label={t('redeem.expires')} description={t('redeem.expiresHint')} value={expiry} onChange={(e) => setExpiry(e.currentTarget.value)} />
        <FormActions onCancel={onCancel} busy={busy} disabled={!name.trim() || quota <= 0}>
          {t('redeem.create')}
        </FormActions>
      </Stack>
    </form>
  );
}

export default function Redemptions() {
  const { t } = useT();
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(20);
  const [keyword, setKeyword] = useState('');
  const [search, setSearch] = useState('');
  const [creating, setCreating] = useState(false);
  const [codes, setCodes] = useState<string[] | null>(null);
  const [actionError, setActionError] = useState<Error | null>(null);
  const list = useLoad(() => api<Page<Redemption>>('GET', `/api/redemption/search${qs({ p: page, page_size: size, keyword: search })}`), [page, size, search]);
  const rows = items(list.data);

  async function act(fn: () => Promise<unknown>, msg: string) {
    setActionError(null);
    try {
      await fn();
      notifications.show({ color: 'teal', message: msg });
      list.reload();
    } catch (e) {
      setActionError(e as Error);
    }
  }

  return (
    <Stack>
      <PageHeader title={t('nav.redemptions')}>
        <SearchForm value={keyword} onChange={setKeyword} onSearch={(k) => (setPage(1), setSearch(k))} />
        <ConfirmButton size="xs" message={t('redeem.confirmPurge')} onConfirm={() => act(() => api('DELETE', '/api/redemption/invalid'), t('common.deleted'))}>
          {t('redeem.purge')}
        </ConfirmButton>
        <Button size="xs" onClick={() => setCreating(true)}>
          {t('redeem.create')}
        </Button>
      </PageHeader>
      <ErrorAlert error={actionError} />
      <ListState
        list={list}
        hasData={rows.length > 0}
        filtered={!!search}
        emptyTitle={t('redeem.empty')}
        emptyHint={t('redeem.emptyHint')}
        action={
          <Button size="xs" onClick={() => setCreating(true)}>
            {t('redeem.create')}
          </Button>
        }
      >
        <DataTable
          minWidth={900}
          hover={false}
          columns={['ID', t('field.name'), t('redeem.code'), t('field.status'), t('redeem.quota'), t('redeem.created'), t('redeem.redeemed'), t('common.actions')]}
        >
          {rows.map((r) => (
            <Table.Tr key={r.id}>
              <Table.Td>{r.id}</Table.Td>
              <Table.Td>{r.name}</Table.Td>
              <Table.Td>
                <Code>{r.key}</Code>
              </Table.Td>
              <Table.Td>{status(t, r)}</Table.Td>
              <Table.Td>
                {usd(r.quota)} ({num(r.quota)})
              </Table.Td>
              <Table.Td>{dateTime(r.created_time)}</Table.Td>
              <Table.Td>{r.redeemed_time ? `${dateTime(r.redeemed_time)} · #${r.used_user_id}` : '—'}</Table.Td>
              <Table.Td>
                <Group gap={4} wrap="nowrap">
                  {r.status !== 3 && (
                    <Button
                      size="xs"
                      variant="light"
                      color={r.status === 2 ? 'green' : 'orange'}
                      onClick={() =>
                        act(
                          () => api('PUT', '/api/redemption/?status_only=true', { id: r.id, status: r.status === 2 ? 1 : 2 }),
                          t('common.saved'),
                        )
                      }
                    >
                      {r.status === 2 ? t('common.enable') : t('common.disable')}
                    </Button>
                  )}
                  <ConfirmButton message={t('redeem.confirmDelete', { name: r.name })} onConfirm={() => act(() => api('DELETE', `/api/redemption/${r.id}`), t('common.deleted'))}>
                    {t('common.delete')}
                  </ConfirmButton>
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </DataTable>
        <Pager page={page} pageSize={size} total={list.data?.total ?? 0} onPage={setPage} onPageSize={(s) => (setSize(s), setPage(1))} />
      </ListState>
      <Modal opened={creating} onClose={() => setCreating(false)} title={t('redeem.create')}>
        {creating && (
          <CreateForm
            onCancel={() => setCreating(false)}
            onCreated={(c) => {
              setCreating(false);
              setCodes(c);
              list.reload();
            }}
          />
        )}
      </Modal>
      <RevealModal
        opened={!!codes}
        value={(codes ?? []).join('\n')}
        onClose={() => setCodes(null)}
        title={t('redeem.codesTitle')}
        warning={t('redeem.codesOnce')}
        copyLabel={t('redeem.copyAll')}
      />
    </Stack>
  );
}
