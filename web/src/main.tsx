import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Badge, MantineProvider, createTheme, localStorageColorSchemeManager } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import { App } from './App';
import { AuthProvider } from './auth';
import { I18nProvider } from './i18n';
import { RouterProvider } from './router';

const theme = createTheme({
  primaryColor: 'blue',
  defaultRadius: 'md',
  components: {
    // A status badge in a narrow table cell must not shrink to "ENABL…".
    Badge: Badge.extend({ styles: { root: { minWidth: 'max-content' } } }),
  },
});
const colorSchemeManager = localStorageColorSchemeManager({ key: 'sluice-color-scheme' });

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="auto" colorSchemeManager={colorSchemeManager}>
      <Notifications position="top-right" />
      <I18nProvider>
        <RouterProvider>
          <AuthProvider>
            <App />
          </AuthProvider>
        </RouterProvider>
      </I18nProvider>
    </MantineProvider>
  </StrictMode>,
);
