import { useState } from 'react';
import { Button, PasswordInput, TextInput } from '@mantine/core';
import { api, type User } from '../api';
import { useAuth } from '../auth';
import { useT } from '../i18n';
import { useAction } from '../hooks';
import { AuthCard, ErrorAlert, submitWith } from '../components/common';

export function LoginPage() {
  const { t } = useT();
  const { loggedIn } = useAuth();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const { run, busy, error } = useAction(async () => {
    const u = await api<User>('POST', '/api/user/login', { username, password });
    loggedIn(u);
  });

  return (
    <AuthCard title={t('login.title')} maw={380} onSubmit={submitWith(run)}>
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
    </AuthCard>
  );
}
