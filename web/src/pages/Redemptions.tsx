import { useState } from 'react';
import { Alert, Badge, Button, Code, Group, Modal, NumberInput, Stack, Table, TextInput } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { api, items, qs, type Page, type Redemption } from '../api';
import { useT, type TFunc } from '../i18n';
import { useLoad } from '../hooks';
import { ConfirmButton, CopyButton, Empty, ErrorAlert, PageHeader, PageState, Pager } from '../components/common';
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
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        try {
          const codes = await api<string[]>('POST', '/api/redemption/', { name: name.trim(), quota, count, expired_time: fromLocalInput(expiry) });
          onCreated(codes);
        } catch (err) {
          setError(err as Error);
        } finally {
          setBusy(false);
        }
      }}
    >
      <Stack>
        <ErrorAlert error={error} />
        <TextInput label={t('field.name')} required value={name} onChange={(e) => setName(e.currentTarget.value)} />
        <NumberInput label={t('redeem.quota')} description={`≈ ${usd(quota || 0)}`} min={1} step={500000} thousandSeparator="," value={quota} onChange={(v) => setQuota(Number(v) || 0)} />
        <NumberInput label={t('redeem.count')} min={1} max={100} value={count} onChange={(v) => setCount(Number(v) || 1)} />
        <TextInput type="datetime-local" label={t('redeem.expires')} description={t('redeem.expiresHint')} value={expiry} onChange={(e) => setExpiry(e.currentTarget.value)} />
        <Group justify="flex-end">
          <Button variant="default" onClick={onCancel}>
            {t('common.cancel')}
          </Button>
          <Button type="submit" loading={busy} disabled={!name.trim() || quota <= 0}>
            {t('redeem.create')}
          </Button>
        </Group>
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
        <form
          onSubmit={(e) => {
            e.preventDefault();
            setPage(1);
            setSearch(keyword.trim());
          }}
        >
          <Group gap="xs">
            <TextInput size="xs" placeholder={t('common.searchByName')} aria-label={t('common.search')} value={keyword} onChange={(e) => setKeyword(e.currentTarget.value)} />
            <Button size="xs" variant="default" type="submit">
              {t('common.search')}
            </Button>
          </Group>
        </form>
        <ConfirmButton size="xs" message={t('redeem.confirmPurge')} onConfirm={() => act(() => api('DELETE', '/api/redemption/invalid'), t('common.deleted'))}>
          {t('redeem.purge')}
        </ConfirmButton>
        <Button size="xs" onClick={() => setCreating(true)}>
          {t('redeem.create')}
        </Button>
      </PageHeader>
      <ErrorAlert error={actionError} />
      <PageState
        loading={list.loading}
        error={list.error}
        onRetry={list.reload}
        hasData={rows.length > 0}
        empty={
          <Empty
            title={search ? t('common.noMatch') : t('redeem.empty')}
            hint={search ? t('common.noMatchHint') : t('redeem.emptyHint')}
            action={
              !search && (
                <Button size="xs" onClick={() => setCreating(true)}>
                  {t('redeem.create')}
                </Button>
              )
            }
          />
        }
      >
        <Table.ScrollContainer minWidth={900}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>ID</Table.Th>
                <Table.Th>{t('field.name')}</Table.Th>
                <Table.Th>{t('redeem.code')}</Table.Th>
                <Table.Th>{t('field.status')}</Table.Th>
                <Table.Th>{t('redeem.quota')}</Table.Th>
                <Table.Th>{t('redeem.created')}</Table.Th>
                <Table.Th>{t('redeem.redeemed')}</Table.Th>
                <Table.Th>{t('common.actions')}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
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
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
        <Pager page={page} pageSize={size} total={list.data?.total ?? 0} onPage={setPage} onPageSize={(s) => (setSize(s), setPage(1))} />
      </PageState>
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
      <Modal opened={!!codes} onClose={() => setCodes(null)} title={t('redeem.codesTitle')} size="lg" closeOnClickOutside={false}>
        <Stack>
          <Alert color="yellow" variant="light">
            {t('redeem.codesOnce')}
          </Alert>
          <Code block>{(codes ?? []).join('\n')}</Code>
          <Group justify="flex-end">
            <CopyButton value={(codes ?? []).join('\n')} label={t('redeem.copyAll')} />
            <Button onClick={() => setCodes(null)}>{t('common.done')}</Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}
