// pecwatch's pages in a real browser: Debian's headless Chromium driven by playwright-core
// (no browser download). Run by tests/integration/browser.rs, which prepares the registry
// and serves the web interface; by hand:
//
//   node tests/browser/run.mjs '{"base":"http://127.0.0.1:8080","out":"target/screenshots",
//     "user":"mario","password":"…","review":"pec.review.it","ok":"pec.ok.it",
//     "failing":"pec.nomx.it","failing_code":"MX_NON_DEFINITO",
//     "fix_line":"pec IN MX 10 mx.pec.aruba.it."}'
//
// Prints one JSON object: {"ok": true, "steps": [...], "screenshots": [...]} or
// {"ok": false, "error": "...", "steps": [...]}, and exits 0 or 1.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const params = JSON.parse(process.argv[2] ?? '{}');
for (const key of ['base', 'out', 'user', 'password', 'review', 'ok', 'failing', 'failing_code', 'fix_line']) {
  if (!params[key]) {
    console.log(JSON.stringify({ ok: false, error: `missing parameter ${key}` }));
    process.exit(1);
  }
}
const base = params.base.replace(/\/$/, '');
const steps = [];
const screenshots = [];
mkdirSync(params.out, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function shot(page, name) {
  const path = join(params.out, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  screenshots.push(path);
}

/** The page must not scroll sideways: nothing wider than the viewport. */
async function fitsWidth(page, width) {
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  check(scroll <= width, `${page.url()} is ${scroll}px wide on a ${width}px screen`);
}

async function check_domain(page, domain, profile) {
  await page.goto(`${base}/`);
  check((await page.getAttribute('html', 'lang')) === 'it', 'the home page is not in Italian');
  await page.getByLabel('Dominio certificato o indirizzo PEC').fill(domain);
  await page.getByLabel('Gestore PEC').selectOption(profile);
  await Promise.all([
    page.waitForURL(`**/check/${domain}?profile=${profile}`),
    page.getByRole('button', { name: 'Verifica' }).click(),
  ]);
  return page.getAttribute('[data-verdict]', 'data-verdict');
}

// playwright-core starts Chromium with a new, empty profile of its own each time.
let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.PECWATCH_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const desktop = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: 'it-IT',
    extraHTTPHeaders: { 'Accept-Language': 'it-IT,it;q=0.9' },
  });
  const page = await desktop.newPage();

  // 1. Self-service check of a correct domain, through the form, keyboard first.
  await page.goto(`${base}/`);
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement?.classList.contains('skip')),
    'the first Tab does not reach the skip link');
  let verdict = await check_domain(page, params.ok, 'aruba');
  check(verdict === 'ok', `${params.ok}: verdict ${verdict}, expected ok`);
  check(await page.getByRole('heading', { level: 1 }).filter({ hasText: 'OK' }).isVisible(),
    `${params.ok}: no OK heading`);
  check(await page.locator('table.servers tbody tr').count() >= 2, 'no per-server table');
  await shot(page, 'self-service-ok');
  steps.push(`self-service ${params.ok}: OK`);

  // 2. A failing domain: the code, why it matters, the exact zone line.
  verdict = await check_domain(page, params.failing, 'aruba');
  check(verdict === 'error', `${params.failing}: verdict ${verdict}, expected error`);
  const finding = page.locator(`[data-code="${params.failing_code}"]`);
  check(await finding.isVisible(), `${params.failing}: no ${params.failing_code} finding`);
  check((await finding.innerText()).includes(params.failing_code.replaceAll('_', ' ')),
    `${params.failing}: the finding does not name ${params.failing_code}`);
  check((await finding.innerText()).includes('Perché conta'), 'no "why it matters"');
  const zone = await finding.locator('pre.zone').first().innerText();
  check(zone.includes(params.fix_line), `${params.failing}: fix lines ${JSON.stringify(zone)} lack ${params.fix_line}`);
  await shot(page, 'self-service-error');
  steps.push(`self-service ${params.failing}: ERRORE ${params.failing_code}, fix "${params.fix_line}"`);

  // The visible language switch, and back.
  await Promise.all([page.waitForURL('**lang=en**'), page.getByRole('link', { name: /English/ }).click()]);
  check((await page.getAttribute('html', 'lang')) === 'en', 'the switch did not give English');
  check(await page.getByText('Why it matters:').first().isVisible(), 'no English text after the switch');
  await page.getByRole('link', { name: /Italiano/ }).click();
  check((await page.getAttribute('html', 'lang')) === 'it', 'the switch did not give Italian back');
  steps.push('language switch: it → en → it');

  // Bad input comes back on the form with a message, not an error page.
  await page.goto(`${base}/`);
  await page.getByLabel('Dominio certificato o indirizzo PEC').fill('<b>non un dominio</b>');
  await page.getByRole('button', { name: 'Verifica' }).click();
  check(await page.getByRole('alert').isVisible(), 'no message for a bad input');
  check((await page.getByLabel('Dominio certificato o indirizzo PEC').inputValue()) === '<b>non un dominio</b>',
    'the bad input is not kept in the form');
  steps.push('invalid input: message on the form');

  // 3. Operator login: the console sends to the sign-in page and back.
  await page.goto(`${base}/console`);
  check(page.url().includes('/console/login'), `not sent to sign in: ${page.url()}`);
  await page.getByLabel('Nome utente').fill(params.user);
  await page.getByLabel('Password').fill(params.password);
  await Promise.all([page.waitForURL(`${base}/console`), page.getByRole('button', { name: 'Accedi' }).click()]);
  check(await page.getByRole('heading', { name: 'Riepilogo', level: 1 }).isVisible(), 'no dashboard');
  const review = await page.locator('.tile[data-state="under_review"] .count').innerText();
  check(review.trim() === '1', `dashboard: ${review} domains under review, expected 1`);
  check(await page.locator('svg.chart rect').count() > 0, 'dashboard: no bars in the chart');
  check(await page.locator('#deadlines-title + .table-scroll tbody tr').count() > 0, 'dashboard: no deadlines');
  await shot(page, 'dashboard');
  steps.push('operator login, dashboard');

  // 4. Approve the reinstatement on the domain page.
  await page.goto(`${base}/console/domains/${params.review}`);
  const state = () => page.getAttribute('.page-head [data-state]', 'data-state');
  check((await state()) === 'under_review', `${params.review} is ${await state()}, expected under_review`);
  await shot(page, 'domain-under-review');
  await Promise.all([
    page.waitForURL(`**/console/domains/${params.review}?done=approve`),
    page.getByRole('button', { name: 'Approva il reinserimento' }).click(),
  ]);
  check((await state()) === 'certified', `${params.review} is ${await state()} after approval`);
  check(await page.getByRole('status').isVisible(), 'no confirmation after approval');
  await shot(page, 'domain-approved');
  steps.push(`${params.review}: under_review → certified`);

  // 5. A phone (390×844): nothing scrolls sideways, the forms still work.
  const phone = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
    locale: 'it-IT',
    extraHTTPHeaders: { 'Accept-Language': 'it-IT,it;q=0.9' },
    storageState: await desktop.storageState(),
  });
  const mobile = await phone.newPage();
  await mobile.goto(`${base}/check/${params.failing}?profile=aruba`);
  await fitsWidth(mobile, 390);
  await shot(mobile, 'phone-self-service');
  await mobile.goto(`${base}/console`);
  check(await mobile.getByRole('heading', { name: 'Riepilogo', level: 1 }).isVisible(), 'phone: no dashboard');
  await fitsWidth(mobile, 390);
  await shot(mobile, 'phone-dashboard');
  await mobile.goto(`${base}/console/domains/${params.review}`);
  await fitsWidth(mobile, 390);
  await shot(mobile, 'phone-domain');
  steps.push('phone 390×844: check, dashboard and domain page fit the screen');

  console.log(JSON.stringify({ ok: true, steps, screenshots }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error?.stack ?? error), steps, screenshots }));
  process.exitCode = 1;
} finally {
  await browser?.close();
}
