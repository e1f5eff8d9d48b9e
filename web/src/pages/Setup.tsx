import { useState } from 'react';
import { Button, PasswordInput, Text, TextInput } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { api } from '../api';
import { useAuth } from '../auth';
import { useT } from '../i18n';
import { useAction } from '../hooks';
import { AuthCard, ErrorAlert, submitWith } from '../components/common';

/** The one-time setup: creates the root account on an empty database. */
export function SetupPage() {
  const { t } = useT();
  const { recheck } = useAuth();
  const [username, setUsername] = useState('root');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const mismatch = confirm !== '' && confirm !== password;
  const tooShort = password !== '' && password.length < 8;

  const { run, busy, error } = useAction(async () => {
    await api('POST', '/api/setup', { username, password, confirmPassword: confirm });
    notifications.show({ color: 'teal', message: t('setup.done') });
    recheck();
  });

  return (
    <AuthCard title={t('setup.title')} maw={420} onSubmit={submitWith(run)}>
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
    </AuthCard>
  );
}
