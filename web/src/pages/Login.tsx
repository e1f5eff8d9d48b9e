import { useState } from 'react';
import { Button, Center, Group, Paper, PasswordInput, Stack, TextInput, Title } from '@mantine/core';
import { api, type User } from '../api';
import { useAuth } from '../auth';
import { useT } from '../i18n';
import { ErrorAlert } from '../components/common';
import { LangSwitch, ThemeToggle } from '../components/chrome';

export function LoginPage() {
  const { t } = useT();
  const { loggedIn } = useAuth();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const u = await api<User>('POST', '/api/user/login', { username, password });
      loggedIn(u);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={380}>
        <form onSubmit={submit}>
          <Stack>
            <Group justify="space-between">
              <Title order={2}>{t('login.title')}</Title>
              <Group gap="xs">
                <LangSwitch />
                <ThemeToggle />
              </Group>
            </Group>
            <ErrorAlert error={error} />
            <TextInput
              label={t('field.username')}
              value={username}
              onChange={(e) => setUsername(e.currentTarget.value)}
              required
              name="username"
              autoComplete="username"
            />
            <PasswordInput
              label={t('field.password')}
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
              required
              name="password"
              autoComplete="current-password"
            />
            <Button type="submit" loading={busy}>
              {t('login.submit')}
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
