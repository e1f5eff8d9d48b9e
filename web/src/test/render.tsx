import type { ReactNode } from 'react';
import { render } from '@testing-library/react';
import { MantineProvider } from '@mantine/core';
import { I18nProvider, type Lang } from '../i18n';
import { RouterProvider } from '../router';

/** Renders ui inside the providers the app uses. */
export function renderUI(ui: ReactNode, lang: Lang = 'en') {
  // As a wrapper, so rerender() keeps the providers.
  const wrapper = ({ children }: { children: ReactNode }) => (
    <MantineProvider>
      <I18nProvider lang={lang}>
        <RouterProvider>{children}</RouterProvider>
      </I18nProvider>
    </MantineProvider>
  );
  return render(ui, { wrapper });
}

/** A fetch stub answering by "METHOD path" with a JSON body and status. */
export function mockFetch(routes: Record<string, (body: unknown, init: RequestInit) => [number, unknown]>) {
  const calls: { method: string; url: string; headers: Record<string, string>; body: unknown }[] = [];
  const fn = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    const method = (init.method ?? 'GET').toUpperCase();
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    calls.push({ method, url, headers: (init.headers ?? {}) as Record<string, string>, body });
    const path = url.split('?')[0];
    const handler = routes[`${method} ${url}`] ?? routes[`${method} ${path}`];
    if (!handler) return new Response(JSON.stringify({ success: false, message: `no mock for ${method} ${url}` }), { status: 404 });
    const [status, json] = handler(body, init);
    return new Response(JSON.stringify(json), { status, headers: { 'Content-Type': 'application/json' } });
  };
  return { fn, calls };
}
