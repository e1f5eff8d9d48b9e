// Building blocks every page shares: error, empty and loading states, copy,
// paging and confirmation.
import { useState, type CSSProperties, type FormEvent, type ReactNode } from 'react';
import {
  Alert,
  Button,
  Center,
  Code,
  Group,
  Loader,
  Modal,
  Pagination,
  Paper,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  Tooltip,
  ActionIcon,
  Popover,
} from '@mantine/core';
import { useT } from '../i18n';
import { LangSwitch, ThemeToggle } from './chrome';

/** Shows an API error's message, with a retry button when the caller can retry. */
export function ErrorAlert({ error, onRetry, title }: { error: Error | null | undefined; onRetry?: () => void; title?: string }) {
  const { t } = useT();
  if (!error) return null;
  return (
    <Alert color="red" title={title ?? t('common.error')} role="alert" variant="light">
      <Stack gap="xs" align="flex-start">
        <Text size="sm" style={{ wordBreak: 'break-word' }} data-testid="error-message">
          {error.message}
        </Text>
        {onRetry && (
          <Button size="xs" variant="light" color="red" onClick={onRetry}>
            {t('common.retry')}
          </Button>
        )}
      </Stack>
    </Alert>
  );
}

/** What an empty list says: what is missing and what to do next. */
export function Empty({ title, hint, action }: { title: string; hint?: string; action?: ReactNode }) {
  return (
    <Center py="xl" data-testid="empty">
      <Stack align="center" gap={6} maw={460}>
        <Text fw={600}>{title}</Text>
        {hint && (
          <Text size="sm" c="dimmed" ta="center">
            {hint}
          </Text>
        )}
        {action}
      </Stack>
    </Center>
  );
}

export function Loading({ label }: { label?: string }) {
  const { t } = useT();
  return (
    <Center py="xl" data-testid="loading">
      <Group gap="sm">
        <Loader size="sm" />
        <Text size="sm" c="dimmed">
          {label ?? t('common.loading')}
        </Text>
      </Group>
    </Center>
  );
}

/**
 * The three states of a loaded list: the error (with retry), progress on
 * the first load, the empty message, or the content.
 */
export function PageState({
  loading,
  error,
  empty,
  onRetry,
  hasData,
  children,
}: {
  loading: boolean;
  error: Error | null;
  empty?: ReactNode;
  onRetry?: () => void;
  hasData: boolean;
  children: ReactNode;
}) {
  if (error) return <ErrorAlert error={error} onRetry={onRetry} />;
  if (loading && !hasData) return <Loading />;
  if (!loading && !hasData && empty) return <>{empty}</>;
  return <>{children}</>;
}

/**
 * A list's states with the usual empty message: when a filter hid every
 * row it says so, otherwise it says what is missing and offers the action.
 */
export function ListState({
  list,
  hasData,
  filtered,
  emptyTitle,
  emptyHint,
  action,
  children,
}: {
  list: { loading: boolean; error: Error | null; reload: () => void };
  hasData: boolean;
  filtered: boolean;
  emptyTitle: string;
  emptyHint: string;
  action?: ReactNode;
  children: ReactNode;
}) {
  const { t } = useT();
  return (
    <PageState
      loading={list.loading}
      error={list.error}
      onRetry={list.reload}
      hasData={hasData}
      empty={<Empty title={filtered ? t('common.noMatch') : emptyTitle} hint={filtered ? t('common.noMatchHint') : emptyHint} action={!filtered && action} />}
    >
      {children}
    </PageState>
  );
}

/** A striped, scrollable table; a column given as false is left out. */
export function DataTable({
  minWidth,
  columns,
  testid,
  hover = true,
  children,
}: {
  minWidth: number;
  columns: (ReactNode | false)[];
  testid?: string;
  hover?: boolean;
  children: ReactNode;
}) {
  return (
    <Table.ScrollContainer minWidth={minWidth}>
      <Table striped highlightOnHover={hover} data-testid={testid}>
        <Table.Thead>
          <Table.Tr>{columns.map((c, i) => (c === false ? null : <Table.Th key={i}>{c}</Table.Th>))}</Table.Tr>
        </Table.Thead>
        <Table.Tbody>{children}</Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

/** The search box of a list page's header; onSearch gets the trimmed text. */
export function SearchForm({
  value,
  onChange,
  onSearch,
  placeholder,
  children,
}: {
  value: string;
  onChange: (v: string) => void;
  onSearch: (v: string) => void;
  placeholder?: string;
  children?: ReactNode;
}) {
  const { t } = useT();
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        onSearch(value.trim());
      }}
    >
      <Group gap="xs">
        <TextInput size="xs" placeholder={placeholder ?? t('common.searchByName')} aria-label={t('common.search')} value={value} onChange={(e) => onChange(e.currentTarget.value)} />
        {children}
        <Button size="xs" variant="default" type="submit">
          {t('common.search')}
        </Button>
      </Group>
    </form>
  );
}

/** A form's cancel and submit buttons. */
export function FormActions({ onCancel, busy, disabled, children }: { onCancel: () => void; busy: boolean; disabled?: boolean; children: ReactNode }) {
  const { t } = useT();
  return (
    <Group justify="flex-end">
      <Button variant="default" onClick={onCancel}>
        {t('common.cancel')}
      </Button>
      <Button type="submit" loading={busy} disabled={disabled}>
        {children}
      </Button>
    </Group>
  );
}

/** Shows something secret once, with a warning and a copy button. */
export function RevealModal({
  opened,
  value,
  onClose,
  title,
  warning,
  copyLabel,
  testid,
  style,
}: {
  opened: boolean;
  value: string;
  onClose: () => void;
  title: string;
  warning: string;
  copyLabel: string;
  testid?: string;
  style?: CSSProperties;
}) {
  const { t } = useT();
  return (
    <Modal opened={opened} onClose={onClose} title={title} size="lg" closeOnClickOutside={false}>
      <Stack>
        <Alert color="yellow" variant="light">
          {warning}
        </Alert>
        <Code block data-testid={testid} style={style}>
          {value}
        </Code>
        <Group justify="flex-end">
          <CopyButton value={value} label={copyLabel} />
          <Button onClick={onClose}>{t('common.done')}</Button>
        </Group>
      </Stack>
    </Modal>
  );
}

/** A form's onSubmit that keeps the page and runs fn (usually a useAction's run). */
export function submitWith(fn: () => unknown) {
  return (e: FormEvent) => {
    e.preventDefault();
    void fn();
  };
}

/** The card of the sign-in and setup screens: a title, the language and theme switches, and the form. */
export function AuthCard({ title, maw, onSubmit, children }: { title: string; maw: number; onSubmit: (e: FormEvent) => void; children: ReactNode }) {
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={maw}>
        <form onSubmit={onSubmit}>
          <Stack>
            <Group justify="space-between">
              <Title order={2}>{title}</Title>
              <Group gap="xs">
                <LangSwitch />
                <ThemeToggle />
              </Group>
            </Group>
            {children}
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <Group justify="space-between" mb="md" wrap="wrap" gap="sm">
      <Title order={2}>{title}</Title>
      <Group gap="xs" wrap="wrap">
        {children}
      </Group>
    </Group>
  );
}

/**
 * Copies text to the clipboard. navigator.clipboard exists only in secure
 * contexts (https or localhost); an admin reaching the UI over plain http
 * on a LAN address still gets a working copy through the older API.
 */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the older way
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  document.body.removeChild(ta);
  return ok;
}

export function CopyButton({ value, label, size = 'sm' }: { value: string; label?: string; size?: string }) {
  const { t } = useT();
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  return (
    <Button
      size={size}
      variant="light"
      color={state === 'copied' ? 'teal' : state === 'failed' ? 'red' : 'blue'}
      onClick={async () => {
        const ok = await copyText(value);
        setState(ok ? 'copied' : 'failed');
        setTimeout(() => setState('idle'), 2000);
      }}
    >
      {state === 'copied' ? t('common.copied') : state === 'failed' ? t('common.copyFailed') : (label ?? t('common.copy'))}
    </Button>
  );
}

/** Page navigation with a page-size picker. */
export function Pager({
  page,
  pageSize,
  total,
  onPage,
  onPageSize,
}: {
  page: number;
  pageSize: number;
  total: number;
  onPage: (p: number) => void;
  onPageSize?: (s: number) => void;
}) {
  const { t } = useT();
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return (
    <Group justify="space-between" mt="md" wrap="wrap">
      <Text size="sm" c="dimmed">
        {t('common.total', { n: total })}
      </Text>
      <Group gap="sm">
        {onPageSize && (
          <Select
            aria-label={t('common.pageSize')}
            w={90}
            size="xs"
            data={['10', '20', '50', '100']}
            value={String(pageSize)}
            onChange={(v) => v && onPageSize(Number(v))}
            allowDeselect={false}
          />
        )}
        <Pagination size="sm" total={pages} value={page} onChange={onPage} />
      </Group>
    </Group>
  );
}

/** A button that asks before doing something that cannot be undone. */
export function ConfirmButton({
  children,
  message,
  onConfirm,
  color = 'red',
  size = 'xs',
  variant = 'light',
  loading,
}: {
  children: ReactNode;
  message: string;
  onConfirm: () => void;
  color?: string;
  size?: string;
  variant?: string;
  loading?: boolean;
}) {
  const { t } = useT();
  const [open, setOpen] = useState(false);
  return (
    <Popover opened={open} onChange={setOpen} withArrow shadow="md" position="bottom-end">
      <Popover.Target>
        <Button size={size} color={color} variant={variant} loading={loading} onClick={() => setOpen((o) => !o)}>
          {children}
        </Button>
      </Popover.Target>
      <Popover.Dropdown>
        <Stack gap="xs" maw={260}>
          <Text size="sm">{message}</Text>
          <Group gap="xs" justify="flex-end">
            <Button size="xs" variant="default" onClick={() => setOpen(false)}>
              {t('common.cancel')}
            </Button>
            <Button
              size="xs"
              color={color}
              onClick={() => {
                setOpen(false);
                onConfirm();
              }}
            >
              {t('common.confirm')}
            </Button>
          </Group>
        </Stack>
      </Popover.Dropdown>
    </Popover>
  );
}

export function IconButton({ label, onClick, children }: { label: string; onClick: () => void; children: ReactNode }) {
  return (
    <Tooltip label={label}>
      <ActionIcon variant="default" size="lg" aria-label={label} onClick={onClick}>
        {children}
      </ActionIcon>
    </Tooltip>
  );
}
