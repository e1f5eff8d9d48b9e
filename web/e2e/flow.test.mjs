// Browser test of the admin UI against the real sluice binary and a fake
// OpenAI upstream, in headless Debian Chromium driven by playwright-core.
// It walks the whole first-day flow and saves a screenshot of every page in
// both themes under docs/screenshots/.
//
// Env: SLUICE_BIN (a built binary; otherwise it is built here with go),
// CHROMIUM (default /usr/bin/chromium), SCREENSHOTS=0 to skip screenshots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startFakeUpstream, FAKE_PIECES } from './fake-upstream.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const shotsDir = path.join(repo, 'docs/screenshots');
const takeShots = process.env.SCREENSHOTS !== '0';
const PASSWORD = 'e2e-root-password';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(fn, what, timeoutMs = 20000) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

async function startSluice(tmp) {
  let bin = process.env.SLUICE_BIN;
  if (!bin) {
    bin = path.join(tmp, 'sluice');
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: repo, stdio: 'inherit' });
  }
  const port = await freePort();
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? tmp,
    PORT: String(port),
    SQLITE_PATH: path.join(tmp, 'x.db'),
    SESSION_SECRET: 'e2e-session-secret-0123456789abcdef',
    BATCH_UPDATE_INTERVAL: '1',
    // The flow loads every page several times from one IP.
    GLOBAL_API_RATE_LIMIT: '100000',
    GLOBAL_WEB_RATE_LIMIT: '100000',
  };
  const logFile = path.join(tmp, 'sluice.log');
  const out = fs.openSync(logFile, 'w');
  const proc = spawn(bin, [], { cwd: tmp, env, stdio: ['ignore', out, out] });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`sluice exited ${proc.exitCode}: ${fs.readFileSync(logFile, 'utf8')}`);
    const r = await fetch(`${base}/api/status`);
    return r.ok;
  }, 'sluice to start');
  return { base, proc, logFile };
}

test('admin UI: setup → login → channel → key → streamed chat → log and dashboard → disabled key refused', { timeout: 300000 }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-'));
  let upstream, sluice, browser;
  // Registered first, so a failed start still stops whatever did start
  // (a listening upstream would otherwise keep the runner alive).
  t.after(async () => {
    await browser?.close().catch(() => {});
    if (sluice && sluice.proc.exitCode === null) {
      sluice.proc.kill('SIGTERM');
      await new Promise((r) => sluice.proc.once('exit', r));
    }
    await upstream?.close();
    if (process.env.KEEP_TMP !== '1') fs.rmSync(tmp, { recursive: true, force: true });
  });
  upstream = await startFakeUpstream();
  sluice = await startSluice(tmp);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--font-render-hinting=none'],
  });

  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    locale: 'en-US',
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const url = (p) => sluice.base + p;

  if (takeShots) fs.mkdirSync(shotsDir, { recursive: true });
  // Both themes of what is on screen. The theme is switched through
  // Mantine's attribute on <html>, which works with a modal open too.
  async function shoot(name) {
    if (!takeShots) return;
    // Let modal, drawer and chart transitions finish first; hide toasts and
    // scroll wide tables back to their start, so the shot shows the page.
    await page.waitForTimeout(500);
    await page.evaluate(() => {
      document.querySelectorAll('.mantine-Notifications-root').forEach((e) => (e.style.display = 'none'));
      document.querySelectorAll('.mantine-ScrollArea-viewport').forEach((e) => (e.scrollLeft = 0));
    });
    for (const scheme of ['light', 'dark']) {
      await page.evaluate((s) => document.documentElement.setAttribute('data-mantine-color-scheme', s), scheme);
      await page.waitForTimeout(150);
      await page.screenshot({ path: path.join(shotsDir, `${name}-${scheme}.png`) });
    }
    await page.evaluate(() => {
      document.documentElement.setAttribute('data-mantine-color-scheme', 'light');
      document.querySelectorAll('.mantine-Notifications-root').forEach((e) => (e.style.display = ''));
    });
  }
  const dialog = () => page.getByRole('dialog');

  await t.test('first run shows setup and creates root', async () => {
    await page.goto(url('/'));
    await page.waitForURL(/\/setup$/);
    await page.locator('input[name=username]').fill('root');
    await page.locator('input[name=password]').fill(PASSWORD);
    await page.locator('input[name=confirmPassword]').fill(PASSWORD);
    await shoot('setup');
    await page.getByRole('button', { name: 'Create root account' }).click();
    await page.waitForURL(/\/login$/);
  });

  await t.test('login with a wrong password shows the error, then logs in', async () => {
    await page.locator('input[name=username]').fill('root');
    await page.locator('input[name=password]').fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').getByText('wrong username or password').waitFor();
    await shoot('login');
    await page.locator('input[name=password]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('stat-balance').waitFor();
    assert.match(await page.getByTestId('stat-balance').innerText(), /\$200\.00/);
    // The empty dashboard says what to do next.
    await page.getByText('No usage in this period').first().waitFor();
  });

  await t.test('the language switch and the theme toggle work', async () => {
    await page.getByText('中文').click();
    await page.getByRole('link', { name: '仪表盘' }).waitFor();
    await page.getByText('EN', { exact: true }).click();
    await page.getByRole('link', { name: 'Dashboard' }).waitFor();
    const before = await page.evaluate(() => document.documentElement.getAttribute('data-mantine-color-scheme'));
    await page.getByTestId('theme-toggle').click();
    const after = await page.evaluate(() => document.documentElement.getAttribute('data-mantine-color-scheme'));
    assert.notEqual(before, after);
    await page.getByTestId('theme-toggle').click();
  });

  await t.test('create a channel with fetched models and test it', async () => {
    await page.goto(url('/channels'));
    await page.getByText('No channels yet').waitFor();
    await shoot('channels-empty');
    await page.getByTestId('create-channel').click();
    const d = dialog();
    await d.locator('input[name=name]').fill('fake-openai');
    await d.locator('input[name=base_url]').fill(upstream.url);
    await d.locator('textarea[name=key]').fill('sk-upstream-fake');
    await d.getByTestId('fetch-models').click();
    await d.getByTestId('fetched-models').getByText('gpt-4o-mini', { exact: true }).click();
    await d.locator('textarea').nth(1).evaluate(() => {}); // editor rendered
    await shoot('channel-editor');
    await d.getByRole('button', { name: 'New channel' }).click();
    const row = page.getByTestId('channel-row-fake-openai');
    await row.waitFor();
    assert.match(await row.innerText(), /gpt-4o-mini/);
    assert.match(await row.innerText(), /not tested/);
    await row.getByRole('button', { name: 'Test' }).click();
    await page.getByText(/fake-openai answered in/).waitFor();
    await waitFor(async () => /\d+ ms/.test(await row.getByTestId('response-time').innerText()), 'the response time');
    await shoot('channels');
  });

  let secret = '';
  await t.test('create a key: the secret is shown once and copies', async () => {
    await page.goto(url('/keys'));
    await page.getByText('No API keys yet').waitFor();
    await page.getByTestId('create-key').click();
    await dialog().locator('input[name=name]').fill('e2e-key');
    await dialog().getByRole('button', { name: 'Create key' }).click();
    const code = page.getByTestId('new-key-secret');
    await code.waitFor();
    secret = (await code.innerText()).trim();
    assert.match(secret, /^sk-[A-Za-z0-9]{20,}$/);
    await page.getByRole('button', { name: 'Copy key' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, secret);
    await shoot('key-secret');
    await page.getByRole('button', { name: 'Done' }).click();
    const row = page.getByTestId('key-row-e2e-key');
    await row.waitFor();
    assert.ok(!(await row.innerText()).includes(secret), 'the list must not show the secret');
    await shoot('keys');
  });

  await t.test('the playground streams a chat through the key', async () => {
    await page.goto(url('/playground'));
    await page.getByText('Choose a key for the playground').waitFor();
    await shoot('playground-key');
    await page.getByPlaceholder('sk-...').fill(secret);
    await page.getByTestId('use-key').click();
    await waitFor(async () => (await page.getByTestId('model-select').inputValue()) === 'gpt-4o-mini', 'the model list');
    await page.getByPlaceholder(/Type a message/).fill('Say hello');
    await page.getByTestId('chat-send').click();
    const answer = page.getByTestId('msg-assistant');
    // The answer grows piece by piece (the fake upstream pauses between
    // pieces), which only a streamed read shows.
    await waitFor(async () => (await answer.innerText()).trim() === FAKE_PIECES[0], 'the first streamed piece');
    await waitFor(async () => (await answer.innerText()).trim() === FAKE_PIECES.join(''), 'the whole answer');
    await page.getByTestId('chat-usage').getByText('11 prompt + 7 completion').waitFor();
    const sent = upstream.requests.find((r) => r.url === '/v1/chat/completions' && r.body?.stream);
    assert.ok(sent, 'the upstream got a streamed request');
    assert.equal(sent.body.model, 'gpt-4o-mini');
    await shoot('playground');
  });

  // gpt-4o-mini: model ratio 0.075, completion ratio 4 (setting/ratio_setting
  // defaults), so (11 + 7 × 4) × 0.075 = 2.925 → 3 quota = $0.000006.
  const CHARGE = '$0.000006';

  await t.test('the log shows the call, its tokens and its charge', async () => {
    await page.goto(url('/logs'));
    await waitFor(async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.waitForTimeout(300);
      return (await page.getByTestId('log-row').filter({ hasText: 'gpt-4o-mini' }).count()) > 0;
    }, 'the consume log');
    const row = page.getByTestId('log-row').filter({ hasText: 'gpt-4o-mini' }).first();
    assert.match(await row.innerText(), /e2e-key/);
    assert.equal((await row.getByTestId('log-quota').innerText()).trim(), CHARGE);
    await shoot('logs');
    await row.click();
    const detail = page.getByTestId('log-detail');
    await detail.waitFor();
    const text = await detail.innerText();
    assert.match(text, /Prompt\s+11/);
    assert.match(text, /Completion\s+7/);
    assert.match(text, /0\.075/);
    assert.match(text, new RegExp(CHARGE.replace(/[$.]/g, '\\$&')));
    await shoot('log-detail');
    await page.keyboard.press('Escape');
  });

  await t.test('the dashboard shows the call and its charge', async () => {
    await page.goto(url('/'));
    await page.getByTestId('usage-chart').waitFor();
    await waitFor(async () => (await page.getByTestId('stat-spent').innerText()).includes(CHARGE), 'the spent stat');
    const models = await page.getByTestId('top-models').innerText();
    assert.match(models, /gpt-4o-mini/);
    assert.ok(models.includes(CHARGE));
    assert.match(await page.getByTestId('top-keys').innerText(), /e2e-key/);
    assert.match(await page.getByTestId('stat-requests').innerText(), /^.*\n1\b/m);
    await shoot('dashboard');
    await page.getByText('中文').click();
    await page.getByText('按模型的用量趋势').waitFor();
    await shoot('dashboard-zh');
    await page.getByText('EN', { exact: true }).click();
  });

  await t.test('disabling the key makes the playground show the refusal', async () => {
    await page.goto(url('/keys'));
    const row = page.getByTestId('key-row-e2e-key');
    await row.getByRole('button', { name: 'Disable' }).click();
    await row.getByText('Disabled').waitFor();
    await page.goto(url('/playground'));
    // The key can no longer list models either; the model is remembered.
    await page.getByText('Could not list models for this key').waitFor();
    assert.equal(await page.getByTestId('model-input').inputValue(), 'gpt-4o-mini');
    await page.getByPlaceholder(/Type a message/).fill('Are you there?');
    await page.getByTestId('chat-send').click();
    const msg = page.getByTestId('error-message');
    await msg.waitFor();
    assert.match(await msg.innerText(), /^403: /);
    await shoot('playground-refused');
  });

  await t.test('the other pages load against the real API', async () => {
    await page.goto(url('/pricing'));
    await page.getByTestId('pricing-table').getByText('gpt-4o-mini').waitFor();
    await shoot('pricing');

    await page.goto(url('/users'));
    await page.getByRole('cell', { name: /^root\b/ }).first().waitFor();
    await page.getByRole('button', { name: 'New user' }).click();
    await dialog().getByLabel('Username').fill('alice');
    await dialog().locator('input[type=password]').fill('alice-password');
    await dialog().getByRole('button', { name: 'New user' }).click();
    await page.getByRole('cell', { name: /^alice\b/ }).first().waitFor();
    await shoot('users');

    await page.goto(url('/redemptions'));
    await page.getByText('No redemption codes').waitFor();
    await page.getByRole('button', { name: 'Create codes' }).first().click();
    await dialog().getByLabel('Name').fill('welcome');
    await dialog().getByRole('button', { name: 'Create codes' }).click();
    await page.getByText('New redemption codes').waitFor();
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('cell', { name: 'welcome' }).waitFor();
    await shoot('redemptions');

    await page.goto(url('/settings'));
    await page.getByTestId('section-health').waitFor();
    await shoot('settings');
    // A ratio edit is validated and shown as a diff before it is saved.
    const editor = page.locator('textarea').first();
    const original = await editor.inputValue();
    await editor.fill('{ not json');
    await page.getByText(/JSON|Unexpected|Expected/).first().waitFor();
    assert.ok(await page.getByTestId('review-ModelRatio').isDisabled());
    const obj = JSON.parse(original);
    obj['e2e-model'] = 1.5;
    await editor.fill(JSON.stringify(obj, null, 2));
    await page.getByTestId('review-ModelRatio').click();
    await page.getByTestId('json-diff').getByText('e2e-model').waitFor();
    await shoot('settings-diff');
    await page.getByTestId('confirm-save').click();
    await page.getByText('ModelRatio saved').waitFor();
    const opts = await page.evaluate(async () => {
      const r = await fetch('/api/option/', { headers: { 'New-Api-User': localStorage.getItem('sluice_uid') } });
      return r.json();
    });
    const saved = JSON.parse(opts.data.find((o) => o.key === 'ModelRatio').value);
    assert.equal(saved['e2e-model'], 1.5);
  });

  await t.test('a reload on a client-side route keeps the page, and a phone gets the menu', async () => {
    await page.goto(url('/logs'));
    await page.getByTestId('logs-table').waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(url('/'));
    await page.getByTestId('stat-balance').waitFor();
    await shoot('dashboard-phone');
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('link', { name: 'Logs' }).click();
    await page.waitForURL(/\/logs$/);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await t.test('no uncaught errors in the page', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
