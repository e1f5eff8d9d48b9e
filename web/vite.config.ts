/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The build is committed and checked for staleness in CI, so it must be
// byte-identical for identical sources: no source maps with absolute paths,
// no timestamps, and stable chunk names.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 700,
    reportCompressedSize: false,
    rollupOptions: {
      output: {
        // Long-lived vendor chunks: a deploy that changes only the app keeps
        // the browser's cached copies of React, Mantine and the charts.
        manualChunks(id: string) {
          if (!id.includes('/node_modules/')) return undefined;
          if (/\/node_modules\/(recharts|@mantine\/charts|d3-[^/]+|victory-vendor|@reduxjs|immer|reselect|react-redux|redux|es-toolkit|decimal\.js-light|eventemitter3|tiny-invariant|use-sync-external-store)\//.test(id)) return 'charts';
          if (/\/node_modules\/(@mantine|@floating-ui|react-remove-scroll[^/]*|react-textarea-autosize|use-callback-ref|use-sidecar|react-number-format|react-style-singleton|get-nonce|detect-node-es|clsx|tslib|type-fest)\//.test(id)) return 'mantine';
          if (/\/node_modules\/(react|react-dom|scheduler)\//.test(id)) return 'react';
          return undefined;
        },
      },
    },
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:3000',
      '/v1': 'http://127.0.0.1:3000',
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
  },
});
