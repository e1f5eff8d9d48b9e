import { ActionIcon, SegmentedControl, Tooltip, useComputedColorScheme, useMantineColorScheme } from '@mantine/core';
import { useT, type Lang } from '../i18n';

export function ThemeToggle() {
  const { t } = useT();
  const { setColorScheme } = useMantineColorScheme();
  const scheme = useComputedColorScheme('light');
  return (
    <Tooltip label={t('app.toggleTheme')}>
      <ActionIcon
        variant="default"
        size="lg"
        aria-label={t('app.toggleTheme')}
        data-testid="theme-toggle"
        onClick={() => setColorScheme(scheme === 'dark' ? 'light' : 'dark')}
      >
        <span aria-hidden style={{ fontSize: 16 }}>
          {scheme === 'dark' ? '☀' : '☾'}
        </span>
      </ActionIcon>
    </Tooltip>
  );
}

export function LangSwitch() {
  const { lang, setLang } = useT();
  return (
    <SegmentedControl
      size="xs"
      aria-label="Language"
      data-testid="lang-switch"
      value={lang}
      onChange={(v) => setLang(v as Lang)}
      data={[
        { value: 'en', label: 'EN' },
        { value: 'zh', label: '中文' },
      ]}
    />
  );
}
