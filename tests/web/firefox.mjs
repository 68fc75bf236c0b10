// The browser e2e's second browser, opt-in: Debian's firefox-esr driven by
// puppeteer-core over WebDriver BiDi (playwright-core's Firefox needs
// Playwright's patched build, which cannot be downloaded here). This adapts
// the small part of Playwright's API that e2e.mjs uses (page.locator with
// waitFor/count/getAttribute/innerText/click, fill, setViewportSize,
// waitForFunction) onto puppeteer, so the same steps run in both browsers.
//   launchFirefox(driverDir, {executablePath, width, height, timeout}) → context
import { createRequire } from 'node:module';
import { join } from 'node:path';

class Locator {
  constructor(page, selector) {
    this.page = page;
    this.sel = selector;
  }

  locator(child) { return new Locator(this.page, `${this.sel} ${child}`); }
  first() { return this; }  // querySelector takes the first match anyway
  async count() { return this.page.$$eval(this.sel, (els) => els.length); }

  async waitFor({ state = 'visible', timeout } = {}) {
    const t = timeout ?? this.page.timeout;
    if (state === 'detached') {
      // puppeteer's own signature (fn, options, ...args), not the adapted one
      await this.page.waitForFunctionPuppeteer((s) => !document.querySelector(s), { timeout: t }, this.sel);
    } else {
      await this.page.waitForSelector(this.sel, { visible: state === 'visible', timeout: t });
    }
  }

  async getAttribute(name) {  // throws when nothing matches (callers check count first)
    return this.page.$eval(this.sel, (el, n) => el.getAttribute(n), name);
  }

  async innerText({ timeout } = {}) {
    await this.waitFor({ state: 'attached', timeout });
    return this.page.$eval(this.sel, (el) => el.innerText);
  }

  async click() {
    await this.waitFor();
    await this.page.click(this.sel);
  }
}

// A puppeteer Page with Playwright's names for what e2e.mjs calls.
function adapt(page, timeout) {
  page.timeout = timeout;
  page.setDefaultTimeout(timeout);
  page.locator = (selector) => new Locator(page, selector);
  page.fill = (selector, value) => page.$eval(selector, (el, v) => {
    el.value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
  page.setViewportSize = ({ width, height }) => page.setViewport({ width, height });
  page.waitForFunctionPuppeteer = page.waitForFunction.bind(page);
  // Playwright: (fn, arg, options); puppeteer: (fn, options, ...args).
  page.waitForFunction = (fn, arg, options = {}) =>
    page.waitForFunctionPuppeteer(fn, { timeout, ...options }, arg);
  return page;
}

export async function launchFirefox(driverDir, { executablePath, width, height, timeout }) {
  const require = createRequire(join(driverDir, 'node_modules', 'x.js'));
  const puppeteer = require('puppeteer-core');
  const browser = await puppeteer.launch({
    browser: 'firefox', executablePath, headless: true, protocol: 'webDriverBiDi',
    defaultViewport: { width, height }, timeout,
  });
  const pages = new Set();
  return {
    async newPage() {
      const p = adapt(await browser.newPage(), timeout);
      pages.add(p);
      p.once('close', () => pages.delete(p));
      return p;
    },
    pages: () => [...pages],
    setDefaultTimeout() {},
    close: () => browser.close(),
  };
}
