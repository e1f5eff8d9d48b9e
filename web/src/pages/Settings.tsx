import { useEffect, useMemo, useState } from 'react';
import { Alert, Button, Card, Group, Modal, NumberInput, Stack, Switch, Tabs, Text, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { api, type OptionRow } from '../api';
import { useT } from '../i18n';
import { useLoad } from '../hooks';
import { ErrorAlert, PageHeader, PageState } from '../components/common';
import { JsonField } from '../components/KeyValueEditor';
import { JsonDiff } from '../components/JsonDiff';
import { diffObjects, parseJsonObject, prettyJson } from '../json';
import { setQuotaPerUnit } from '../format';

const RATIO_KEYS = ['ModelRatio', 'CompletionRatio', 'CacheRatio', 'GroupRatio', 'ModelPrice'] as const;

type Kind = 'bool' | 'int' | 'float' | 'text';

/** The scalar options by section; any key the server lists beyond these shows under "Other". */
const SECTIONS: { id: string; keys: [string, Kind][] }[] = [
  {
    id: 'general',
    keys: [
      ['QuotaPerUnit', 'float'],
      ['QuotaForNewUser', 'int'],
      ['PreConsumeCompletionTokens', 'int'],
      ['DisplayInCurrencyEnabled', 'bool'],
      ['ExposeRatioEnabled', 'bool'],
      ['SelfUseModeEnabled', 'bool'],
      ['LogRetentionDays', 'int'],
    ],
  },
  {
    id: 'rateLimit',
    keys: [
      ['ModelRequestRateLimitEnabled', 'bool'],
      ['ModelRequestRateLimitCount', 'int'],
      ['ModelRequestRateLimitDurationMinutes', 'int'],
    ],
  },
  {
    id: 'health',
    keys: [
      ['RetryTimes', 'int'],
      ['AutomaticDisableChannelEnabled', 'bool'],
      ['ChannelFailureThreshold', 'int'],
      ['ChannelFailureWindowSeconds', 'int'],
      ['ChannelProbeIntervalSeconds', 'int'],
      ['AllowPrivateUpstreams', 'bool'],
    ],
  },
  {
    id: 'monitor',
    keys: [
      ['CPUMonitorEnabled', 'bool'],
      ['CPUMonitorThreshold', 'int'],
      ['CPUMonitorSampleSeconds', 'int'],
      ['CPUProfileSeconds', 'int'],
      ['CPUProfileIntervalSeconds', 'int'],
      ['CPUProfileDir', 'text'],
      ['CPUProfileKeep', 'int'],
    ],
  },
];

/** One JSON-object option: edit, validate, review the diff, save. */
function RatioEditor({ name, saved, onSaved }: { name: string; saved: string; onSaved: () => void }) {
  const { t } = useT();
  const [text, setText] = useState(() => prettyJson(saved));
  const [review, setReview] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => setText(prettyJson(saved)), [saved]);
  const check = parseJsonObject(text, 'number');
  const before = parseJsonObject(saved);
  const diff = check.ok && before.ok ? diffObjects(before.value, check.value) : [];

  async function save() {
    if (!check.ok) return;
    setBusy(true);
    setError(null);
    try {
      await api('PUT', '/api/option/', { key: name, value: JSON.stringify(check.value) });
      notifications.show({ color: 'teal', message: t('settings.savedKey', { key: name }) });
      setReview(false);
      onSaved();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Stack>
      <Text size="sm" c="dimmed">
        {t(`settings.help.${name}`)}
      </Text>
      <JsonField label={name} value={text} onChange={setText} kind="number" minRows={10} />
      <Group justify="space-between">
        <Text size="xs" c="dimmed">
          {check.ok ? t('settings.entries', { n: Object.keys(check.value).length }) : ''}
        </Text>
        <Group gap="xs">
          <Button variant="default" size="xs" onClick={() => setText(prettyJson(saved))} disabled={diff.length === 0}>
            {t('common.reset')}
          </Button>
          <Button size="xs" onClick={() => setReview(true)} disabled={!check.ok || diff.length === 0} data-testid={`review-${name}`}>
            {t('settings.review')}
          </Button>
        </Group>
      </Group>
      <Modal opened={review} onClose={() => setReview(false)} title={t('settings.reviewTitle', { key: name })} size="lg">
        <Stack>
          <JsonDiff entries={diff} />
          <ErrorAlert error={error} />
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setReview(false)}>
              {t('common.cancel')}
            </Button>
            <Button onClick={save} loading={busy} data-testid="confirm-save">
              {t('settings.saveChanges', { n: diff.length })}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}

/** A section of scalar options, saved together (only the changed keys). */
function Section({ id, keys, values, onSaved }: { id: string; keys: [string, Kind][]; values: Record<string, string>; onSaved: () => void }) {
  const { t } = useT();
  const [draft, setDraft] = useState<Record<string, string>>(() => Object.fromEntries(keys.map(([k]) => [k, values[k] ?? ''])));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => setDraft(Object.fromEntries(keys.map(([k]) => [k, values[k] ?? '']))), [values, keys]);
  const present = keys.filter(([k]) => k in values);
  const changed = present.filter(([k]) => draft[k] !== values[k]);
  if (present.length === 0) return null;

  async function save() {
    setBusy(true);
    setError(null);
    try {
      // One key at a time, as the API takes them; a refused value stops the
      // rest so the message names the key that was wrong.
      for (const [k] of changed) {
        try {
          await api('PUT', '/api/option/', { key: k, value: draft[k] });
        } catch (e) {
          throw new Error(`${k}: ${(e as Error).message}`);
        }
      }
      notifications.show({ color: 'teal', message: t('common.saved') });
      onSaved();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card withBorder data-testid={`section-${id}`}>
      <Title order={4} mb="sm">
        {t(`settings.section.${id}`)}
      </Title>
      <Stack gap="sm">
        {present.map(([k, kind]) =>
          kind === 'bool' ? (
            <Switch
              key={k}
              label={k}
              description={t(`settings.help.${k}`) === `settings.help.${k}` ? undefined : t(`settings.help.${k}`)}
              checked={draft[k] === 'true'}
              onChange={(e) => {
                const checked = e.currentTarget.checked;
                setDraft((d) => ({ ...d, [k]: checked ? 'true' : 'false' }));
              }}
            />
          ) : kind === 'text' ? (
            <TextInput key={k} label={k} value={draft[k]} onChange={(e) => {
              const v = e.currentTarget.value;
              setDraft((d) => ({ ...d, [k]: v }));
            }} />
          ) : (
            <NumberInput
              key={k}
              label={k}
              description={t(`settings.help.${k}`) === `settings.help.${k}` ? undefined : t(`settings.help.${k}`)}
              value={draft[k] === '' ? '' : Number(draft[k])}
              allowDecimal={kind === 'float'}
              onChange={(v) => setDraft((d) => ({ ...d, [k]: v === '' ? '' : String(v) }))}
            />
          ),
        )}
        <ErrorAlert error={error} />
        <Group justify="flex-end">
          <Button size="xs" onClick={save} loading={busy} disabled={changed.length === 0}>
            {t('settings.saveChanges', { n: changed.length })}
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

export default function Settings() {
  const { t } = useT();
  const opts = useLoad(() => api<OptionRow[]>('GET', '/api/option/'), []);
  // Memoised: the sections reset their drafts when these change, which must
  // be only when the options were (re)loaded.
  const values = useMemo<Record<string, string>>(() => Object.fromEntries((opts.data ?? []).map((o) => [o.key, o.value])), [opts.data]);
  useEffect(() => {
    if (values.QuotaPerUnit) setQuotaPerUnit(Number(values.QuotaPerUnit));
  }, [values.QuotaPerUnit]);
  const other = useMemo<[string, Kind][]>(() => {
    const known = new Set<string>([...RATIO_KEYS, ...SECTIONS.flatMap((s) => s.keys.map(([k]) => k))]);
    return Object.keys(values)
      .filter((k) => !known.has(k))
      .sort()
      .map((k) => [k, values[k] === 'true' || values[k] === 'false' ? 'bool' : 'text']);
  }, [values]);

  return (
    <Stack>
      <PageHeader title={t('nav.settings')}>
        <Button size="xs" variant="default" onClick={opts.reload} loading={opts.loading}>
          {t('common.refresh')}
        </Button>
      </PageHeader>
      <Alert variant="light" color="blue">
        {t('settings.intro')}
      </Alert>
      <PageState loading={opts.loading} error={opts.error} onRetry={opts.reload} hasData={!!opts.data}>
        <Card withBorder>
          <Title order={4} mb="sm">
            {t('settings.section.ratios')}
          </Title>
          <Tabs defaultValue="ModelRatio" keepMounted={false}>
            <Tabs.List>
              {RATIO_KEYS.map((k) => (
                <Tabs.Tab key={k} value={k}>
                  {k}
                </Tabs.Tab>
              ))}
            </Tabs.List>
            {RATIO_KEYS.map((k) => (
              <Tabs.Panel key={k} value={k} pt="sm">
                <RatioEditor name={k} saved={values[k] ?? '{}'} onSaved={opts.reload} />
              </Tabs.Panel>
            ))}
          </Tabs>
        </Card>
        {SECTIONS.map((s) => (
          <Section key={s.id} id={s.id} keys={s.keys} values={values} onSaved={opts.reload} />
        ))}
        {other.length > 0 && <Section id="other" keys={other} values={values} onSaved={opts.reload} />}
      </PageState>
    </Stack>
  );
}
