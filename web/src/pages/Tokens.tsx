import { useState } from 'react';
import { Badge, Button, Checkbox, Code, Group, Modal, NumberInput, Select, Stack, Switch, Table, TagsInput, TextInput, Textarea } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { api, items, qs, type Page, type Token } from '../api';
import { useT, type TFunc } from '../i18n';
import { useAction, useLoad } from '../hooks';
import { ConfirmButton, DataTable, ErrorAlert, FormActions, ListState, PageHeader, Pager, RevealModal, SearchForm, submitWith } from '../components/common';
import { dateTime, fromLocalInput, num, splitList, toLocalInput, usd } from '../format';

export function tokenStatus(t: TFunc, s: number) {
  const m: Record<number, [string, string]> = {
    1: ['green', t('status.enabled')],
    2: ['gray', t('status.disabled')],
    3: ['orange', t('status.expired')],
    4: ['red', t('status.exhausted')],
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
  name: string;
  unlimited_quota: boolean;
  remain_quota: number;
  never_expires: boolean;
  expired_at: string;
  model_limits_enabled: boolean;
  model_limits: string[];
  allow_ips: string;
  group: string;
  status?: number;
}

const emptyDraft: Draft = {
  name: '',
  unlimited_quota: true,
  remain_quota: 500000,
  never_expires: true,
  expired_at: '',
  model_limits_enabled: false,
  model_limits: [],
  allow_ips: '',
  group: '',
};

function toDraft(tk: Token): Draft {
  return {
    id: tk.id,
    name: tk.name,
    unlimited_quota: tk.unlimited_quota,
    remain_quota: tk.remain_quota,
    never_expires: tk.expired_time === -1,
    expired_at: tk.expired_time > 0 ? toLocalInput(tk.expired_time) : '',
    model_limits_enabled: tk.model_limits_enabled,
    model_limits: splitList(tk.model_limits),
    allow_ips: tk.allow_ips,
    group: tk.group,
    status: tk.status === 2 ? 2 : 1,
  };
}

function toBody(d: Draft) {
  return {
    id: d.id,
    name: d.name.trim(),
    unlimited_quota: d.unlimited_quota,
    remain_quota: d.unlimited_quota ? 0 : Math.max(0, Math.round(d.remain_quota)),
    expired_time: d.never_expires ? -1 : fromLocalInput(d.expired_at),
    model_limits_enabled: d.model_limits_enabled,
    model_limits: d.model_limits.join(','),
    allow_ips: d.allow_ips,
    group: d.group,
    status: d.status,
  };
}

/** The create/edit form for an API key. */
export function TokenForm({
  initial,
  groups,
  onSaved,
  onCancel,
}: {
  initial: Draft;
  groups: string[];
  onSaved: (tk: Token) => void;
  onCancel: () => void;
}) {
  const { t } = useT();
  const [d, setD] = useState<Draft>(initial);
  const { run: save, busy, error } = useAction(async () => {
    const tk = await api<Token>(d.id ? 'PUT' : 'POST', '/api/token/', toBody(d));
    onSaved(tk);
  });
  const set = (p: Partial<Draft>) => setD((x) => ({ ...x, ...p }));
  const expiryMissing = !d.never_expires && !d.expired_at;
  return (
    <form onSubmit={submitWith(save)}>
      <Stack>
        <ErrorAlert error={error} />
        <TextInput label={t('field.name')} name="name" required value={d.name} onChange={(e) => set({ name: e.currentTarget.value })} />
        <Switch label={t('keys.unlimited')} checked={d.unlimited_quota} onChange={(e) => set({ unlimited_quota: e.currentTarget.checked })} />
        {!d.unlimited_quota && (
          <NumberInput
            label={t('keys.quota')}
            description={`≈ ${usd(d.remain_quota || 0)}`}
            min={0}
            step={100000}
            thousandSeparator=","
            value={d.remain_quota}
            onChange={(v) => set({ remain_quota: Number(v) || 0 })}
          />
        )}
        <Checkbox label={t('keys.neverExpires')} checked={d.never_expires} onChange={(e) => set({ never_expires: e.currentTarget.checked })} />
        {!d.never_expires && (
          <TextInput
            type="datetime-local"
            label={t('keys.expiresAt')}
            value={d.expired_at}
            onChange={(e) => set({ expired_at: e.currentTarget.value })}
            error={expiryMissing ? t('keys.expiryRequired') : undefined}
          />
        )}
        <Switch
          label={t('keys.modelLimits')}
          checked={d.model_limits_enabled}
          onChange={(e) => set({ model_limits_enabled: e.currentTarget.checked })}
        />
        {d.model_limits_enabled && (
          <TagsInput
            label={t('keys.allowedModels')}
            description={t('keys.allowedModelsHint')}
            value={d.model_limits}
            onChange={(v) => set({ model_limits: v })}
          />
        )}
        <Textarea
          label={t('keys.allowIps')}
          description={t('keys.allowIpsHint')}
          autosize
          minRows={2}
          value={d.allow_ips}
          onChange={(e) => set({ allow_ips: e.currentTarget.value })}
        />
        <Select
          label={t('field.group')}
          placeholder={t('keys.groupDefault')}
          data={groups}
          value={d.group || null}
          onChange={(v) => set({ group: v ?? '' })}
          clearable
        />
        <FormActions onCancel={onCancel} busy={busy} disabled={!d.name.trim() || expiryMissing}>
          {d.id ? t('common.save') : t('keys.create')}
        </FormActions>
      </Stack>
    </form>
  );
}

/** Shows a new key's secret once, with a copy button. */
export function SecretModal({ secret, onClose }: { secret: string | null; onClose: () => void }) {
  const { t } = useT();
  return (
    <RevealModal
      opened={!!secret}
      value={secret ?? ''}
      onClose={onClose}
      title={t('keys.secretTitle')}
      warning={t('keys.secretOnce')}
      copyLabel={t('keys.copySecret')}
      testid="new-key-secret"
      style={{ wordBreak: 'break-all', whiteSpace: 'pre-wrap' }}
    />
  );
}

export default function Tokens() {
  const { t } = useT();
  const [page, setPage] = useState(1);
  const [size, setSize] = useState(20);
  const [keyword, setKeyword] = useState('');
  const [search, setSearch] = useState('');
  const [editing, setEditing] = useState<Draft | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [busyId, setBusyId] = useState<number | null>(null);
  const [actionError, setActionError] = useState<Error | null>(null);
  const list = useLoad(() => api<Page<Token>>('GET', `/api/token/${qs({ p: page, page_size: size, keyword: search })}`), [page, size, search]);
  const groups = useLoad(() => api<Record<string, unknown>>('GET', '/api/user/self/groups'), []);
  const groupNames = Object.keys(groups.data ?? {}).sort();
  const rows = items(list.data);

  async function act(id: number, fn: () => Promise<unknown>, done: string) {
    setBusyId(id);
    setActionError(null);
    try {
      await fn();
      notifications.show({ color: 'teal', message: done });
      list.reload();
    } catch (e) {
      setActionError(e as Error);
    } finally {
      setBusyId(null);
    }
  }

  return (
    <Stack>
      <PageHeader title={t('nav.keys')}>
        <SearchForm value={keyword} onChange={setKeyword} onSearch={(k) => (setPage(1), setSearch(k))} />
        <Button size="xs" onClick={() => setEditing({ ...emptyDraft })} data-testid="create-key">
          {t('keys.create')}
        </Button>
      </PageHeader>
      <ErrorAlert error={actionError} />
      <ListState
        list={list}
        hasData={rows.length > 0}
        filtered={!!search}
        emptyTitle={t('keys.empty')}
        emptyHint={t('keys.emptyHint')}
        action={
          <Button size="xs" onClick={() => setEditing({ ...emptyDraft })}>
            {t('keys.create')}
          </Button>
        }
      >
        <DataTable
          minWidth={900}
          testid="keys-table"
          columns={[
            t('field.name'),
            t('field.key'),
            t('field.status'),
            t('field.remaining'),
            t('field.used'),
            t('keys.expires'),
            t('field.group'),
            t('common.actions'),
          ]}
        >
          {rows.map((k) => (
            <Table.Tr key={k.id} data-testid={`key-row-${k.name}`}>
              <Table.Td>{k.name}</Table.Td>
              <Table.Td>
                <Code>{k.key}</Code>
              </Table.Td>
              <Table.Td>{tokenStatus(t, k.status)}</Table.Td>
              <Table.Td>{k.unlimited_quota ? t('keys.unlimited') : `${usd(k.remain_quota)} (${num(k.remain_quota)})`}</Table.Td>
              <Table.Td>{usd(k.used_quota)}</Table.Td>
              <Table.Td>{k.expired_time === -1 ? t('keys.never') : dateTime(k.expired_time)}</Table.Td>
              <Table.Td>{k.group || '—'}</Table.Td>
              <Table.Td>
                <Group gap={4} wrap="nowrap">
                  <Button size="xs" variant="default" onClick={() => setEditing(toDraft(k))}>
                    {t('common.edit')}
                  </Button>
                  <Button
                    size="xs"
                    variant="light"
                    color={k.status === 2 ? 'green' : 'orange'}
                    loading={busyId === k.id}
                    onClick={() =>
                      act(
                        k.id,
                        () => api('PUT', '/api/token/?status_only=true', { id: k.id, status: k.status === 2 ? 1 : 2 }),
                        k.status === 2 ? t('keys.enabled') : t('keys.disabled'),
                      )
                    }
                  >
                    {k.status === 2 ? t('common.enable') : t('common.disable')}
                  </Button>
                  <ConfirmButton message={t('keys.confirmDelete', { name: k.name })} onConfirm={() => act(k.id, () => api('DELETE', `/api/token/${k.id}`), t('common.deleted'))}>
                    {t('common.delete')}
                  </ConfirmButton>
                </Group>
              </Table.Td>
            </Table.Tr>
          ))}
        </DataTable>
        <Pager page={page} pageSize={size} total={list.data?.total ?? 0} onPage={setPage} onPageSize={(s) => (setSize(s), setPage(1))} />
      </ListState>
      <Modal opened={!!editing} onClose={() => setEditing(null)} title={editing?.id ? t('keys.edit') : t('keys.create')} size="lg">
        {editing && (
          <TokenForm
            initial={editing}
            groups={groupNames}
            onCancel={() => setEditing(null)}
            onSaved={(tk) => {
              const created = !editing.id;
              setEditing(null);
              list.reload();
              if (created) setSecret(tk.key);
              else notifications.show({ color: 'teal', message: t('common.saved') });
            }}
          />
        )}
      </Modal>
      <SecretModal secret={secret} onClose={() => setSecret(null)} />
    </Stack>
  );
}
