import { useState } from 'react';
import { Button, Center, Group, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { api } from '../api';
import { useAuth } from '../auth';
import { useT } from '../i18n';
import { ErrorAlert } from '../components/common';
import { LangSwitch, ThemeToggle } from '../components/chrome';

/** The one-time setup: creates the root account on an empty database. */
export function SetupPage() {
  const { t } = useT();
  const { recheck } = useAuth();
  const [username, setUsername] = useState('root');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const mismatch = confirm !== '' && confirm !== password;
  const tooShort = password !== '' && password.length < 8;

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api('POST', '/api/setup', { username, password, confirmPassword: confirm });
      notifications.show({ color: 'teal', message: t('setup.done') });
      recheck();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={420}>
        <form onSubmit={submit}>
          <Stack>
            <Group justify="space-between">
              <Title order={2}>{t('setup.title')}</Title>
              <Group gap="xs">
                <LangSwitch />
                <ThemeToggle />
              </Group>
            </Group>
            <Text size="sm" c="dimmed">
              {t('setup.intro')}
            </Text>
            <ErrorAlert error={error} />
            <TextInput label={t('field.username')} value={username} onChange={(e) => setUsername(e.currentTarget.value)} required name="username" />
            <PasswordInput
              label={t('field.password')}
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
              required
              name="password"
              error={tooShort ? t('setup.tooShort') : undefined}
            />
            <PasswordInput
              label={t('setup.confirm')}
              value={confirm}
              onChange={(e) => setConfirm(e.currentTarget.value)}
              required
              name="confirmPassword"
              error={mismatch ? t('setup.mismatch') : undefined}
            />
            <Button type="submit" loading={busy} disabled={mismatch || tooShort || !password}>
              {t('setup.submit')}
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
