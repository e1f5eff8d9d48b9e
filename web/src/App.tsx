import { lazy, Suspense, useEffect, type ComponentType, type LazyExoticComponent } from 'react';
import {
  AppShell,
  Burger,
  Button,
  Center,
  Group,
  Menu,
  NavLink,
  ScrollArea,
  Stack,
  Text,
  Title,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { useAuth, isAdmin, isRoot } from './auth';
import { api, type OptionRow } from './api';
import { setQuotaPerUnit } from './format';
import { useT } from './i18n';
import { LangSwitch, ThemeToggle } from './components/chrome';
import { Link, useRouter } from './router';
import { ErrorAlert, Loading } from './components/common';
import { SetupPage } from './pages/Setup';
import { LoginPage } from './pages/Login';

// Each page is its own chunk: a user who only looks at the dashboard never
// downloads the channel editor or the settings forms.
const pages: Record<string, { load: LazyExoticComponent<ComponentType>; label: string; need: 'user' | 'admin' | 'root' }> = {
  '/': { load: lazy(() => import('./pages/Dashboard')), label: 'nav.dashboard', need: 'user' },
  '/keys': { load: lazy(() => import('./pages/Tokens')), label: 'nav.keys', need: 'user' },
  '/playground': { load: lazy(() => import('./pages/Playground')), label: 'nav.playground', need: 'user' },
  '/logs': { load: lazy(() => import('./pages/Logs')), label: 'nav.logs', need: 'user' },
  '/pricing': { load: lazy(() => import('./pages/Pricing')), label: 'nav.pricing', need: 'user' },
  '/channels': { load: lazy(() => import('./pages/Channels')), label: 'nav.channels', need: 'admin' },
  '/users': { load: lazy(() => import('./pages/Users')), label: 'nav.users', need: 'admin' },
  '/redemptions': { load: lazy(() => import('./pages/Redemptions')), label: 'nav.redemptions', need: 'admin' },
  '/settings': { load: lazy(() => import('./pages/Settings')), label: 'nav.settings', need: 'root' },
};

function NotFound() {
  const { t } = useT();
  return (
    <Center py="xl">
      <Stack align="center">
        <Title order={3}>{t('app.notFound')}</Title>
        <Link to="/">{t('nav.dashboard')}</Link>
      </Stack>
    </Center>
  );
}

function Shell() {
  const { t } = useT();
  const { user, logout } = useAuth();
  const { path, navigate } = useRouter();
  const [opened, { toggle, close }] = useDisclosure();
  const allowed = (need: string) => need === 'user' || (need === 'admin' && isAdmin(user)) || (need === 'root' && isRoot(user));
  const page = pages[path];
  const Page = page && allowed(page.need) ? page.load : null;

  // Dollar amounts use the operator's QuotaPerUnit, which only root may
  // read; everyone else sees the default (500000 quota per dollar).
  useEffect(() => {
    if (!isRoot(user)) return;
    api<OptionRow[]>('GET', '/api/option/')
      .then((rows) => {
        const v = rows.find((r) => r.key === 'QuotaPerUnit');
        if (v) setQuotaPerUnit(Number(v.value));
      })
      .catch(() => {});
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [user?.id, user?.role]);

  useEffect(() => {
    document.title = page ? `${t(page.label)} · sluice` : 'sluice';
  }, [page, t]);

  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="xs" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label={t('app.menu')} />
            <Text fw={700} size="lg" component={Link} to="/" style={{ textDecoration: 'none', color: 'inherit' }}>
              sluice
            </Text>
          </Group>
          <Group gap="xs" wrap="nowrap">
            <LangSwitch />
            <ThemeToggle />
            <Menu position="bottom-end" withinPortal>
              <Menu.Target>
                <Button variant="default" size="xs" data-testid="user-menu">
                  {user?.username}
                </Button>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Label>{t(user && isRoot(user) ? 'role.root' : user && isAdmin(user) ? 'role.admin' : 'role.user')}</Menu.Label>
                <Menu.Item
                  onClick={async () => {
                    await logout();
                    navigate('/login');
                  }}
                >
                  {t('app.logout')}
                </Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs">
        <ScrollArea>
          {Object.entries(pages)
            .filter(([, p]) => allowed(p.need))
            .map(([to, p]) => (
              <NavLink key={to} component={Link} to={to} label={t(p.label)} active={path === to} onClick={close} />
            ))}
        </ScrollArea>
      </AppShell.Navbar>
      <AppShell.Main>
        <Suspense fallback={<Loading />}>{Page ? <Page /> : <NotFound />}</Suspense>
      </AppShell.Main>
    </AppShell>
  );
}

/** Picks setup, login or the app by the server's and the session's state. */
export function App() {
  const { state, error, recheck } = useAuth();
  const { path, navigate } = useRouter();

  useEffect(() => {
    if (state === 'setup' && path !== '/setup') navigate('/setup', true);
    if (state === 'anonymous' && path !== '/login') {
      sessionStorage.setItem('sluice_after_login', path === '/setup' ? '/' : path);
      navigate('/login', true);
    }
    if (state === 'user' && (path === '/login' || path === '/setup')) {
      const next = sessionStorage.getItem('sluice_after_login') || '/';
      sessionStorage.removeItem('sluice_after_login');
      navigate(next, true);
    }
  }, [state, path, navigate]);

  if (state === 'loading') return <Loading />;
  if (state === 'offline')
    return (
      <Center p="xl">
        <ErrorAlert error={error} onRetry={recheck} />
      </Center>
    );
  if (state === 'setup') return <SetupPage />;
  if (state === 'anonymous') return <LoginPage />;
  return <Shell />;
}
