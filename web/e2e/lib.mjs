// What every browser test shares: Chromium (headless, the flags this machine needs), one
// browser context per simulated user, a numbered screenshot after every step, and a run
// that fails — exit status 1, saying what was expected and what the page shows — on a
// failed expectation, an uncaught page error, a console error or a CSP violation.
//
// Input (environment): GATEWAY_URL (e.g. http://127.0.0.1:8080), SCREENSHOT_DIR (default
// ./e2e-screenshots/<scenario>), CHROMIUM_BIN (default /usr/bin/chromium),
// E2E_PATIENCE_MS (longest wait for one condition, default 30000) and E2E_RUN_TIMEOUT_MS
// (the whole run, default 170000).

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const PATIENCE_MS = positive('E2E_PATIENCE_MS', 30_000);
const RUN_TIMEOUT_MS = positive('E2E_RUN_TIMEOUT_MS', 170_000);
/** The most characters of a page's text a failure report prints. */
const PAGE_TEXT_LIMIT = 3000;

function positive(name, fallback) {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/** A failed expectation: `expected` what, and the run prints what the pages show. */
export class Failure extends Error {}

/**
 * Runs scenario `name`: `body(run)` drives the pages through `run.step(...)`. Exits the
 * process: 0 when every step passed and nothing went wrong on any page, else 1.
 */
export async function scenario(name, body) {
  const base = process.env.GATEWAY_URL?.replace(/\/+$/, '');
  if (!base) {
    console.error(`usage: GATEWAY_URL=http://127.0.0.1:8080 node web/e2e/${name}.mjs`);
    process.exit(2);
  }
  const shots = path.resolve(process.env.SCREENSHOT_DIR || path.join('e2e-screenshots', name));
  mkdirSync(shots, { recursive: true });
  console.log(`${name}: against ${base}, screenshots in ${shots}`);
  const timer = setTimeout(() => {
    console.error(`FAILED: the run did not finish within ${RUN_TIMEOUT_MS} ms`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  timer.unref();

  const run = new Run(base, shots);
  let status = 0;
  try {
    await run.launch();
    await body(run);
    run.checkClean('the end of the run');
    console.log(`${name}: every step passed (${run.steps} steps)`);
  } catch (error) {
    status = 1;
    await run.report(error);
  } finally {
    await run.close();
  }
  process.exit(status);
}

class Run {
  constructor(base, shots) {
    this.base = base;
    this.shots = shots;
    this.steps = 0;
    this.browser = null;
    /** Every page opened, with its label, in order. */
    this.pages = [];
    /** What went wrong on a page and was not expected: `{ label, kind, text }`. */
    this.problems = [];
  }

  async launch() {
    this.browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      headless: true,
    });
  }

  /** The absolute URL of `pathname` on the gateway. */
  url(pathname) {
    return `${this.base}${pathname}`;
  }

  /**
   * A page in a browser context of its own (its own storage: one simulated user or
   * browser), watched for page errors, console errors and CSP violations.
   */
  async page(label) {
    const context = await this.browser.newContext({ viewport: { width: 1280, height: 860 } });
    context.setDefaultTimeout(PATIENCE_MS);
    const page = await context.newPage();
    const entry = { label, page, allowed: [] };
    this.pages.push(entry);
    const problem = (kind, text) => {
      if (kind === 'console error' && entry.allowed.some((re) => re.test(text))) return;
      this.problems.push({ label, kind, text });
      console.log(`  [${label}] ${kind}: ${text}`);
    };
    await context.exposeBinding('__e2eReportCspViolation', (_source, v) =>
      problem(
        'CSP violation',
        `${v.directive} blocked ${v.blocked || 'inline'} (${v.source || 'the page'}:${v.line}) ${v.sample}`,
      ),
    );
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__e2eReportCspViolation({
          directive: e.effectiveDirective,
          blocked: e.blockedURI,
          source: e.sourceFile,
          line: e.lineNumber,
          sample: e.sample,
        });
      });
    });
    page.on('pageerror', (error) => problem('page error', error.stack || error.message));
    page.on('console', (message) => {
      const location = message.location();
      const where = location?.url ? ` (${location.url}:${location.lineNumber})` : '';
      if (message.type() === 'error') problem('console error', `${message.text()}${where}`);
      else if (/content security policy/i.test(message.text())) {
        problem('CSP violation', message.text());
      }
    });
    page.on('crash', () => problem('page crash', 'the page crashed'));
    // Not a failure by itself (the browser's console error about it is): what was refused.
    page.on('response', async (response) => {
      if (response.status() < 400) return;
      const request = response.request();
      const body = await response.text().catch(() => '');
      console.log(
        `  [${label}] HTTP ${response.status()} for ${request.method()} ${response.url()}: ${body.slice(0, 500)}` +
          (request.postData() ? `\n    request body: ${request.postData().slice(0, 300)}` : ''),
      );
    });
    return page;
  }

  /** Console errors matching `pattern` on `page` are expected from now on, not failures. */
  allowConsoleErrors(page, pattern) {
    this.entry(page).allowed.push(pattern);
  }

  entry(page) {
    const entry = this.pages.find((e) => e.page === page);
    if (!entry) throw new Error('a page this run did not open');
    return entry;
  }

  /**
   * One step: runs `body`, fails on anything that went wrong meanwhile, and takes a
   * screenshot of each page in `pages` named after the step.
   */
  async step(title, pages, body) {
    this.steps += 1;
    const number = String(this.steps).padStart(2, '0');
    this.current = { number, title, pages };
    console.log(`step ${number}: ${title}`);
    await body();
    this.checkClean(`step ${number} (${title})`);
    for (const page of pages) await this.screenshot(page, `${number}-${slug(title)}`);
  }

  async screenshot(page, name) {
    const file = path.join(this.shots, `${name}-${slug(this.entry(page).label)}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }

  checkClean(when) {
    if (this.problems.length === 0) return;
    const list = this.problems.map((p) => `  [${p.label}] ${p.kind}: ${p.text}`).join('\n');
    this.problems = [];
    throw new Failure(`nothing going wrong on any page by ${when}, but:\n${list}`);
  }

  /** Waits until `locator` is visible; else fails saying `expected`. */
  async expectVisible(locator, expected, timeout = PATIENCE_MS) {
    try {
      await locator.first().waitFor({ state: 'visible', timeout });
    } catch (error) {
      throw new Failure(`${expected} (waited ${timeout} ms: ${firstLine(error)})`);
    }
  }

  /** Fails saying `expected` unless `condition` holds. */
  expect(condition, expected, actual) {
    if (!condition) throw new Failure(`${expected}${actual === undefined ? '' : `, got ${actual}`}`);
  }

  /** What went wrong, what the pages show, and a screenshot of each page. */
  async report(error) {
    const what = error instanceof Failure ? `expected ${error.message}` : error.stack || error;
    console.error(`\nFAILED in step ${this.current?.number ?? '-'} (${this.current?.title ?? 'setup'}):`);
    console.error(what);
    for (const { label, page } of this.pages) {
      if (page.isClosed()) continue;
      try {
        const text = (await page.locator('body').innerText({ timeout: 5000 })).trim();
        const shown =
          text.length > PAGE_TEXT_LIMIT ? `${text.slice(0, PAGE_TEXT_LIMIT)}… (${text.length} characters)` : text;
        console.error(`\n--- what page "${label}" (${page.url()}) shows ---\n${shown}`);
        const file = await this.screenshot(page, `${this.current?.number ?? '00'}-FAILED`);
        console.error(`--- screenshot: ${file}`);
      } catch (e) {
        console.error(`\n--- page "${label}": cannot be read (${firstLine(e)})`);
      }
    }
    for (const p of this.problems) console.error(`  [${p.label}] ${p.kind}: ${p.text}`);
  }

  async close() {
    await this.browser?.close().catch(() => {});
  }
}

function slug(text) {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);
}

function firstLine(error) {
  return String(error?.message ?? error).split('\n')[0];
}

/** Waits until `locator` matches exactly `count` elements; else fails saying `expected`. */
export async function waitForCount(locator, count, expected, timeout = PATIENCE_MS) {
  // The (count+1)th match gone and, unless none are wanted, the count-th one there.
  try {
    await locator.nth(count).waitFor({ state: 'detached', timeout });
    if (count > 0) await locator.nth(count - 1).waitFor({ state: 'attached', timeout });
  } catch (error) {
    const actual = await locator.count().catch(() => '?');
    throw new Failure(`${expected}: ${count} matching, got ${actual} (${firstLine(error)})`);
  }
}

/** A name no earlier run used: `prefix-<time>-<random>`. */
export function fresh(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}
