import { useState } from 'react';
import { Badge, Button, Group, Modal, NumberInput, PasswordInput, Select, Stack, Table, TextInput } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { api, items, qs, type Page, type User } from '../api';
import { useAuth } from '../auth';
import { useT, type TFunc } from '../i18n';
import { useAction, useLoad } from '../hooks';
import { ConfirmButton, DataTable, ErrorAlert, FormActions, ListState, PageHeader, Pager, SearchForm, submitWith } from '../components/common';
import { num, usd } from '../format';

export function roleBadge(t: TFunc, role: number) {
  if (role >= 100) return <Badge color="red">{t('role.root')}</Badge>;
  if (role >= 10) return <Badge color="violet">{t('role.admin')}</Badge>;
  return <Badge color="gray">{t('role.user')}</Badge>;
}

interface Draft {
  id?: number;
  username: string;
  display_name: string;
  password: string;
  quota: number;
  group: string;
}

function UserForm({ initial, groups, onSaved, onCancel }: { initial: Draft; groups: string[]; onSaved: () => void; onCancel: () => void }) {
  const { t } = useT();
  const [d, setD] = useState(initial);
  const { run: save, busy, error } = useAction(async () => {
    const body: Record<string, unknown> = { username: d.username.trim(), display_name: d.display_name, quota: Math.round(d.quota), group: d.group || 'default' };
    if (d.id) body.id = d.id;
    if (d.password) body.password = d.password;
    await api(d.id ? 'PUT' : 'POST', '/api/user/', body);
    onSaved();
  });
  const set = (p: Partial<Draft>) => setD((x) => ({ ...x, ...p }));
  return (
    <form onSubmit={submitWith(save)}>
      <Stack>
        <ErrorAlert error={error} />
        <TextInput label={t('field.username')} required value={d.username} onChange={(e) => set({ username: e.currentTarget.value })} />
        <TextInput label={t('users.displayName')} value={d.display_name} onChange={(e) => set({ display_name: e.currentTarget.value })} />
        <PasswordInput
          label={t('field.password')}
          description={d.id ? t('users.passwordKeep') : t('users.passwordHint')}
          required={!d.id}
          value={d.password}
          onChange={(e) => set({ password: e.currentTarget.value })}
        />
        <NumberInput
          label={t('users.quota')}
          description={`≈ ${usd(d.quota || 0)}`}
          min={0}
          step={500000}
          thousandSeparator=","
          value={d.quota}
          onChange={(v) => set({ quota: Number(v) || 0 })}
        />
        <Select label={t('field.group')} data={groups} value={d.group || 'default'} onChange={(v) => set({ group: v ?? 'default' })} searchable allowDeselect={false} />
        <FormActions onCancel={onCancel} busy={busy}>
          {d.id ? t('common.save') : t('users.create')}
        </FormActions>
      </Stack>
    </form>
  );
}

export default function Users() {
  const { t } = useT();
  const { user: me } = useAuth();
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(20);
  const [keyword, setKeyword] = useState('');
  const [search, setSearch] = useState('');
  const [editing, setEditing] = useState<Draft | null>(null);
  const [busyId, setBusyId] = useState<number | null>(null);
  const [actionError, setActionError] = useState<Error | null>(null);
  const list = useLoad(() => api<Page<User>>('GET', `/api/user/search${qs({ p: page, page_size: size, keyword: search })}`), [page, size, search]);
  const groups = useLoad(() => api<string[]>('GET', '/api/group/'), []);
  const groupNames = [...new Set(['default', ...(groups.data ?? [])])];
  const rows = items(list.data);

  async function manage(u: User, action: string) {
    setBusyId(u.id);
    setActionError(null);
    try {
      await api('POST', '/api/user/manage', { id: u.id, action });
      notifications.show({ color: 'teal', message: t(`users.did.${action}`, { name: u.username }) });
      list.reload();
    } catch (e) {
      setActionError(e as Error);
    } finally {
      setBusyId(null);
    }
  }

  return (
    <Stack>
      <PageHeader title={t('nav.users')}>
        <SearchForm value={keyword} onChange={setKeyword} onSearch={(k) => (setPage(1), setSearch(k))} placeholder={t('users.searchHint')} />
        <Button size="xs" onClick={() => setEditing({ username: '', display_name: '', password: '', quota: 0, group: 'default' })}>
          {t('users.create')}
        </Button>
      </PageHeader>
      <ErrorAlert error={actionError} />
      <ListState list={list} hasData={rows.length > 0} filtered={!!search} emptyTitle={t('users.empty')} emptyHint={t('users.emptyHint')}>
        <DataTable
          minWidth={1000}
          columns={[
            'ID',
            t('field.username'),
            t('users.role'),
            t('field.status'),
            t('field.group'),
            t('field.remaining'),
            t('field.used'),
            t('dash.requests'),
            t('common.actions'),
          ]}
        >
          {rows.map((u) => {
            // Nobody acts on a user of equal or higher role; the server
            // refuses it anyway, so the buttons are not offered.
            const canAct = !!me && u.id !== me.id && u.role < me.role;
            return (
              <Table.Tr key={u.id}>
                <Table.Td>{u.id}</Table.Td>
                <Table.Td>
                  {u.username}
                  {u.display_name && u.display_name !== u.username ? ` (${u.display_name})` : ''}
                </Table.Td>
                <Table.Td>{roleBadge(t, u.role)}</Table.Td>
                <Table.Td>
                  <Badge color={u.status === 1 ? 'green' : 'gray'} variant="light">
                    {u.status === 1 ? t('status.enabled') : t('status.disabled')}
                  </Badge>
                </Table.Td>
                <Table.Td>{u.group}</Table.Td>
                <Table.Td>
                  {usd(u.quota)} <span style={{ opacity: 0.6 }}>({num(u.quota)})</span>
                </Table.Td>
                <Table.Td>{usd(u.used_quota)}</Table.Td>
                <Table.Td>{num(u.request_count)}</Table.Td>
                <Table.Td>
                  {canAct ? (
                    <Group gap={4} wrap="nowrap">
                      <Button
                        size="xs"
                        variant="default"
                        onClick={() => setEditing({ id: u.id, username: u.username, display_name: u.display_name, password: '', quota: u.quota, group: u.group })}
                      >
                        {t('common.edit')}
                      </Button>
                      <Button size="xs" variant="light" color={u.status === 1 ? 'orange' : 'green'} loading={busyId === u.id} onClick={() => manage(u, u.status === 1 ? 'disable' : 'enable')}>
                        {u.status === 1 ? t('common.disable') : t('common.enable')}
                      </Button>
                      {u.role < 10 && me!.role >= 100 ? (
                        <Button size="xs" variant="light" color="violet" onClick={() => manage(u, 'promote')}>
                          {t('users.promote')}
                        </Button>
                      ) : u.role >= 10 ? (
                        <Button size="xs" variant="light" color="gray" onClick={() => manage(u, 'demote')}>
                          {t('users.demote')}
                        </Button>
                      ) : null}
                      <ConfirmButton message={t('users.confirmDelete', { name: u.username })} onConfirm={() => manage(u, 'delete')}>
                        {t('common.delete')}
                      </ConfirmButton>
                    </Group>
                  ) : (
                    '—'
                  )}
                </Table.Td>
              </Table.Tr>
            );
          })}
        </DataTable>
        <Pager page={page} pageSize={size} total={list.data?.total ?? 0} onPage={setPage} onPageSize={(s) => (setSize(s), setPage(1))} />
      </ListState>
      <Modal opened={!!editing} onClose={() => setEditing(null)} title={editing?.id ? t('users.edit') : t('users.create')}>
        {editing && (
          <UserForm
            initial={editing}
            groups={groupNames}
            onCancel={() => setEditing(null)}
            onSaved={() => {
              setEditing(null);
              notifications.show({ color: 'teal', message: t('common.saved') });
              list.reload();
            }}
          />
        )}
      </Modal>
    </Stack>
  );
}
