import { Badge, Code, Table, Text } from '@mantine/core';
import { useT } from '../i18n';
import type { DiffEntry } from '../json';

/** The keys a save would add, remove or change, before the admin confirms it. */
export function JsonDiff({ entries }: { entries: DiffEntry[] }) {
  const { t } = useT();
  if (entries.length === 0) {
    return (
      <Text size="sm" c="dimmed" data-testid="diff-empty">
        {t('settings.noChanges')}
      </Text>
    );
  }
  const show = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));
  const color = { added: 'green', removed: 'red', changed: 'yellow' } as const;
  return (
    <Table data-testid="json-diff">
      <Table.Thead>
        <Table.Tr>
          <Table.Th>{t('settings.key')}</Table.Th>
          <Table.Th>{t('settings.change')}</Table.Th>
          <Table.Th>{t('settings.before')}</Table.Th>
          <Table.Th>{t('settings.after')}</Table.Th>
        </Table.Tr>
      </Table.Thead>
      <Table.Tbody>
        {entries.map((e) => (
          <Table.Tr key={e.key}>
            <Table.Td>
              <Code>{e.key}</Code>
            </Table.Td>
            <Table.Td>
              <Badge color={color[e.kind]} variant="light">
                {t(`settings.diff.${e.kind}`)}
              </Badge>
            </Table.Td>
            <Table.Td>{show(e.before)}</Table.Td>
            <Table.Td>{show(e.after)}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}
