import { useState } from 'react';
import { ActionIcon, Button, Group, SegmentedControl, Stack, Text, TextInput, Textarea } from '@mantine/core';
import { useT } from '../i18n';
import { objectToRows, parseJsonObject, rowsToObject } from '../json';

/**
 * Edits a JSON object of strings (model mapping) as rows, or as raw JSON
 * for pasting. The value is always the JSON text the API stores.
 */
export function KeyValueEditor({
  label,
  value,
  onChange,
  fromLabel,
  toLabel,
  suggestions,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  fromLabel: string;
  toLabel: string;
  suggestions?: string[];
}) {
  const { t } = useT();
  const [mode, setMode] = useState<'rows' | 'json'>(() => (value && !parseJsonObject(value, 'string').ok ? 'json' : 'rows'));
  const [rows, setRows] = useState(() => objectToRows(value));
  const check = parseJsonObject(value, 'string');

  const updateRows = (next: { from: string; to: string }[]) => {
    setRows(next);
    onChange(rowsToObject(next));
  };

  return (
    <Stack gap={6}>
      <Group justify="space-between">
        <Text size="sm" fw={500}>
          {label}
        </Text>
        <SegmentedControl
          size="xs"
          value={mode}
          onChange={(m) => {
            if (m === 'rows') {
              if (!check.ok) return;
              setRows(objectToRows(value));
            }
            setMode(m as 'rows' | 'json');
          }}
          data={[
            { value: 'rows', label: t('kv.rows') },
            { value: 'json', label: 'JSON' },
          ]}
        />
      </Group>
      {mode === 'json' ? (
        <Textarea
          autosize
          minRows={3}
          ff="monospace"
          value={value}
          onChange={(e) => onChange(e.currentTarget.value)}
          error={check.ok ? undefined : check.error}
          placeholder='{"gpt-4o": "gpt-4o-2024-08-06"}'
        />
      ) : (
        <Stack gap={4}>
          {rows.map((r, i) => (
            <Group key={i} gap={4} wrap="nowrap">
              <TextInput
                style={{ flex: 1 }}
                size="xs"
                placeholder={fromLabel}
                aria-label={fromLabel}
                value={r.from}
                list={suggestions ? 'kv-suggestions' : undefined}
                onChange={(e) => updateRows(rows.map((x, j) => (j === i ? { ...x, from: e.currentTarget.value } : x)))}
              />
              <Text size="xs">→</Text>
              <TextInput
                style={{ flex: 1 }}
                size="xs"
                placeholder={toLabel}
                aria-label={toLabel}
                value={r.to}
                onChange={(e) => updateRows(rows.map((x, j) => (j === i ? { ...x, to: e.currentTarget.value } : x)))}
              />
              <ActionIcon variant="subtle" color="red" aria-label={t('common.delete')} onClick={() => updateRows(rows.filter((_, j) => j !== i))}>
                ✕
              </ActionIcon>
            </Group>
          ))}
          {suggestions && (
            <datalist id="kv-suggestions">
              {suggestions.map((s) => (
                <option key={s} value={s} />
              ))}
            </datalist>
          )}
          <Button size="xs" variant="subtle" style={{ alignSelf: 'flex-start' }} onClick={() => setRows([...rows, { from: '', to: '' }])}>
            {t('kv.add')}
          </Button>
        </Stack>
      )}
    </Stack>
  );
}

/** A textarea for a JSON object with live validation. */
export function JsonField({
  label,
  description,
  value,
  onChange,
  kind = 'any',
  placeholder,
  minRows = 2,
}: {
  label: string;
  description?: string;
  value: string;
  onChange: (v: string) => void;
  kind?: 'number' | 'string' | 'any';
  placeholder?: string;
  minRows?: number;
}) {
  const check = parseJsonObject(value, kind);
  return (
    <Textarea
      label={label}
      description={description}
      autosize
      minRows={minRows}
      maxRows={16}
      ff="monospace"
      value={value}
      placeholder={placeholder}
      onChange={(e) => onChange(e.currentTarget.value)}
      error={check.ok ? undefined : check.error}
    />
  );
}
