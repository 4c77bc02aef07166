// Drives the dashboard in Debian's chromium as an operator would, against
// a real flotilla-server that dashboard_test.cpp started with a simulated
// fleet and a rollout whose waves each wait for an approval.
//
//   node dashboard.mjs   (settings from the environment, below)
//
// FLOTILLA_URL, FLOTILLA_TOKEN_FILE: the server and an operator token
// ROLLOUT_ID: the rollout to steer; XSS_DEVICE: a device whose label is hostile
// OUT_DIR: screenshots, the downloaded CSV and result.json go here
//
// Exit 0 when every check held; otherwise 1 with each failed check on stderr.
import {chromium} from 'playwright-core';
import {readFileSync, writeFileSync, mkdirSync} from 'node:fs';
import {join} from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env('FLOTILLA_URL');
const token = readFileSync(env('FLOTILLA_TOKEN_FILE'), 'utf8').trim();
const auditorToken = readFileSync(env('FLOTILLA_AUDITOR_TOKEN_FILE'), 'utf8').trim();
const publisherToken = readFileSync(env('FLOTILLA_PUBLISHER_TOKEN_FILE'), 'utf8').trim();
const rolloutId = env('ROLLOUT_ID');
const xssDevice = env('XSS_DEVICE');
const out = env('OUT_DIR');
mkdirSync(out, {recursive: true});

const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};
const api = async (path) => {
  const response = await fetch(`${base}/api/v1${path}`, {headers: {Authorization: `Bearer ${token}`}});
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
};
const result = {};

let page = null;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const deadline = setTimeout(() => {
  console.error('FAIL the browser session took over 150 s');
  process.exit(1);
}, 150000);

try {
  const context = await browser.newContext({viewport: {width: 1280, height: 860}, acceptDownloads: true});
  page = await context.newPage();
  const consoleErrors = [], dialogs = [], requests = [];
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  page.on('request', (request) => requests.push(request.url()));
  // Any alert/confirm/prompt would be script run by the page (the
  // dashboard's own confirmations are a <dialog> element, not these).
  page.on('dialog', async (dialog) => { dialogs.push(dialog.message()); await dialog.dismiss(); });

  // Sign in.
  const response = await page.goto(`${base}/ui/`);
  const csp = response.headers()['content-security-policy'] ?? '';
  check(csp.includes("script-src 'self'") && csp.includes("frame-ancestors 'none'"), `strict CSP on the page (${csp})`);
  check(response.headers()['x-content-type-options'] === 'nosniff', 'X-Content-Type-Options: nosniff');
  await page.fill('#token', token);
  await page.press('#token', 'Enter');
  await page.waitForSelector('#nav:not([hidden])');
  await page.waitForSelector('.card');
  check((await page.textContent('#who')).includes('admin'), 'the signed-in token is named with its role');

  // The overview's counts are the API's.
  const summary = await api('/devices/summary');
  const cards = await page.$$eval('.card', (els) => Object.fromEntries(els.map((e) =>
    [e.querySelector('.label').textContent, e.querySelector('.value').textContent])));
  result.cards = cards;
  check(cards.devices === String(summary.total), `overview devices ${cards.devices} = API ${summary.total}`);
  check(cards.accepted === String(summary.by_status.accepted ?? 0), `overview accepted ${cards.accepted} = API`);
  check(cards.tampered === String(summary.tampered), `overview tampered ${cards.tampered} = API ${summary.tampered}`);
  await page.screenshot({path: join(out, 'overview.png'), fullPage: true});

  // The hostile label is text on the device list and the device page.
  await page.goto(`${base}/ui/#/devices?label=${encodeURIComponent('note=' + JSON.parse(readFileSync(join(out, 'xss-label.json'), 'utf8')).note)}`);
  await page.waitForSelector(`a[title="${xssDevice}"]`);
  await page.goto(`${base}/ui/#/devices/${xssDevice}`);
  await page.waitForSelector('.label-chip');
  const chips = await page.$$eval('.label-chip', (els) => els.map((e) => e.textContent));
  const hostile = JSON.parse(readFileSync(join(out, 'xss-label.json'), 'utf8')).note;
  check(chips.includes(`note=${hostile}`), 'the <script> label is shown as text');
  check(await page.evaluate(() => window.__flotillaXss === undefined), 'the label\'s script never ran');
  check(await page.$$eval('img[src="x"], .label-chip script', (els) => els.length) === 0, 'the label made no element');

  // The rollout: its canary runs and then waits for an approval. Pause
  // it and see the API agree, resume, approve, and watch the last wave go
  // from nothing to done on the page without a reload.
  await page.goto(`${base}/ui/#/rollouts/${rolloutId}`);
  await page.evaluate(() => { window.__sameDocument = true; });
  await page.waitForSelector('#rollout-approve', {timeout: 90000});
  await page.screenshot({path: join(out, 'rollout-waiting.png'), fullPage: true});
  // Pause by keyboard alone: focus the button, Enter, the dialog opens on
  // Cancel (the safe default), Tab to Confirm, Enter.
  const press = async (button, state, byKeyboard = false) => {
    if (byKeyboard) {
      await page.focus(button);
      await page.keyboard.press('Enter');
      await page.waitForSelector('dialog#confirm[open]');
      check(await page.evaluate(() => document.activeElement.id) === 'confirm-cancel', 'the confirmation opens on Cancel');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
    } else {
      await page.click(button);
      await page.waitForSelector('dialog#confirm[open]');
      await page.click('#confirm-ok');
    }
    await page.waitForSelector(`h1 .badge:text("${state}")`, {timeout: 15000});
    return (await api(`/rollouts/${rolloutId}`)).state;
  };
  const pausedState = await press('#rollout-pause', 'paused', true);
  check(pausedState === 'paused', `pressing Pause: the API says ${pausedState}`);
  check(await page.isVisible('#rollout-resume'), 'a paused rollout offers Resume');
  const resumedState = await press('#rollout-resume', 'running');
  check(resumedState === 'running', `pressing Resume: the API says ${resumedState}`);

  await page.waitForSelector('#rollout-approve');
  await page.click('#rollout-approve');
  await page.waitForSelector('dialog#confirm[open]');
  await page.click('#confirm-ok');
  const views = [];
  const watchUntil = Date.now() + 90000;
  let lastWaveDone = false;
  while (Date.now() < watchUntil && !lastWaveDone) {
    const legend = await page.textContent('[data-wave="all"] .legend').catch(() => '');
    if (views.at(-1) !== legend) views.push(legend);
    const wave = (await api(`/rollouts/${rolloutId}`)).status.waves[1];
    lastWaveDone = wave.eligible > 0 && legend.includes(`succeeded ${wave.eligible}`);
    if (!lastWaveDone) await page.waitForTimeout(250);
  }
  result.last_wave_views = views;
  check(lastWaveDone, `the last wave reached every device on the page (seen: ${views.join(' | ')})`);
  check(views.length >= 2 && views[0].includes('succeeded 0'), 'the page showed the wave move from none while watched');
  check(await page.evaluate(() => window.__sameDocument === true), 'without reloading the page');
  await page.waitForSelector('h1 .badge:text("completed")', {timeout: 30000});
  await page.screenshot({path: join(out, 'rollout.png'), fullPage: true});

  // Compliance: the CSV arrives as a download with a row per device.
  await page.goto(`${base}/ui/#/compliance`);
  await page.waitForSelector('#download-csv');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  const csvPath = join(out, 'compliance.csv');
  await download.saveAs(csvPath);
  const csv = readFileSync(csvPath, 'utf8');
  result.csv_lines = csv.trimEnd().split('\r\n').length;
  check(csv.startsWith('device_id,'), 'the downloaded CSV starts with its header');
  const [signed] = await Promise.all([page.waitForEvent('download'), page.click('#download-signed')]);
  await signed.saveAs(join(out, 'compliance.signed.json'));
  check(signed.suggestedFilename().endsWith('.signed.json'), `the signed report's file name (${signed.suggestedFilename()})`);
  await page.screenshot({path: join(out, 'compliance.png'), fullPage: true});

  // Audit: the chain verifies on the page, and the pause is in it.
  await page.goto(`${base}/ui/#/audit?q=rollout.`);
  await page.waitForSelector('#audit-filter');
  await page.waitForSelector('td:text("rollout.approve")');
  await page.waitForSelector('.notice.ok:has-text("chain valid")');
  const auditText = await page.textContent('table');
  for (const action of ['rollout.pause', 'rollout.resume', 'rollout.approve']) {
    check(auditText.includes(action), `${action} is in the audit log`);
  }
  await page.screenshot({path: join(out, 'audit.png'), fullPage: true});

  // Tablet width: the pages still lay out (no horizontal overflow of the body).
  await page.setViewportSize({width: 768, height: 1024});
  await page.goto(`${base}/ui/#/rollouts/${rolloutId}`);
  await page.waitForSelector('[data-wave="all"]');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, `no horizontal scrolling at 768 px (overflow ${overflow} px)`);
  await page.screenshot({path: join(out, 'rollout-tablet.png'), fullPage: true});

  // Dark mode renders with the dark palette.
  await page.emulateMedia({colorScheme: 'dark'});
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(background === 'rgb(20, 23, 27)', `dark background in dark mode (${background})`);

  // An auditor: a refused token first, then theirs. The page shows no
  // steering buttons, and the server refuses the call anyway.
  const auditor = await (await browser.newContext({viewport: {width: 1280, height: 860}})).newPage();
  auditor.on('pageerror', (error) => consoleErrors.push(String(error)));
  await auditor.goto(`${base}/ui/`);
  await auditor.fill('#token', 'flt_' + '0'.repeat(64));
  await auditor.press('#token', 'Enter');
  await auditor.waitForSelector('#sign-in-error:text("refused")');
  check(await auditor.isVisible('#sign-in'), 'a refused token stays on the sign-in form, saying why');
  await auditor.fill('#token', auditorToken);
  await auditor.press('#token', 'Enter');
  await auditor.waitForSelector('#nav:not([hidden])');
  // Keyboard: on a fresh load (the tab keeps its session) Tab from the top
  // reaches the Rollouts link, and Enter opens it.
  await auditor.reload();
  await auditor.waitForSelector('.card');
  let reached = false;
  for (let i = 0; i < 12 && !reached; ++i) {
    await auditor.keyboard.press('Tab');
    reached = await auditor.evaluate(() => document.activeElement?.dataset?.section === 'rollouts');
  }
  check(reached, 'Tab reaches the Rollouts link');
  await auditor.keyboard.press('Enter');
  await auditor.waitForFunction(() => location.hash === '#/rollouts');
  await auditor.goto(`${base}/ui/#/rollouts/${rolloutId}`);
  await auditor.waitForSelector('[data-wave="all"]');
  check(await auditor.$$eval('#rollout-pause, #rollout-resume, #rollout-approve, #rollout-abort', (els) => els.length) === 0,
    'an auditor sees no steering buttons');
  const refused = await fetch(`${base}/api/v1/rollouts/${rolloutId}/pause`,
    {method: 'POST', headers: {Authorization: `Bearer ${auditorToken}`}});
  check(refused.status === 403, `the server refuses an auditor's pause (${refused.status})`);

  // A publisher reads nothing the dashboard shows: no sections, and why.
  await auditor.click('#sign-out');
  await auditor.waitForSelector('#sign-in:not([hidden])');
  await auditor.fill('#token', publisherToken);
  await auditor.press('#token', 'Enter');
  await auditor.waitForSelector('.notice.warn');
  check((await auditor.textContent('.notice.warn')).includes('publisher role'), 'a publisher is told what the role may not read');
  check(await auditor.$$eval('#nav a:not([hidden])', (els) => els.length) === 0, 'a publisher sees no sections');

  check(consoleErrors.length === 0, `no console errors (${consoleErrors.join(' | ')})`);
  check(dialogs.length === 0, `no script dialogs (${dialogs.join(' | ')})`);
  check(requests.every((u) => u.startsWith(base) || u.startsWith('blob:') || u.startsWith('data:')),
    'nothing fetched from another origin');
  check(requests.every((u) => !u.includes(token)), 'the token never in a URL');
  result.console_errors = consoleErrors;
  result.failures = failures;
  writeFileSync(join(out, 'result.json'), JSON.stringify(result, null, 2));
} catch (error) {
  failures.push(String(error.stack ?? error));
  console.error(error);
  // What the page showed when it went wrong.
  if (page) await page.screenshot({path: join(out, 'failure.png'), fullPage: true}).catch(() => {});
} finally {
  clearTimeout(deadline);
  await browser.close();
}
if (failures.length) {
  console.error(`${failures.length} check(s) failed:\n- ${failures.join('\n- ')}`);
  process.exit(1);
}
console.log('all dashboard checks passed');
