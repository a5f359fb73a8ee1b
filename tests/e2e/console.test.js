// The browser console (console/, served at /) driven in Debian's Chromium
// through playwright-core: sign in, browse a table (filter, sort, pages),
// edit a row and read it back through another door, SQL and GraphQL, a live
// subscription that sees a row inserted through the Datasette write API in
// another tab, a reducer call, a CSV upload with progress, metrics and
// operations. Every request the page makes stays on the server's origin and
// the page logs no errors. Screenshots go to tests/e2e/artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Server, STEP_MS } from './lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = join(here, 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'e2e-admin-password';

let server, browser, context, admin;
const foreign = [];    // requests that left the server's origin
const problems = [];   // console errors and uncaught exceptions

async function sql(db, query) {
  const r = await server.req('POST', `/dbs/${db}/sql`, { token: admin, json: { query } });
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text);
}

function watch(page) {
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.host !== new URL(server.url).host) foreign.push(req.url());
  });
  // Chromium logs every 4xx as "Failed to load resource": those are checked
  // by URL instead (only the deliberately wrong sign-in may fail)
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
  });
  page.on('response', (res) => {
    const path = new URL(res.url()).pathname;
    if (res.status() >= 400 && !(res.status() === 401 && path === '/v1/signin')) problems.push(`${res.status()} ${path}`);
  });
  page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
  page.setDefaultTimeout(STEP_MS);
  return page;
}

// waitForSelector that, on a timeout, says what the page showed instead
async function seen(page, sel) {
  try {
    return await page.waitForSelector(sel);
  } catch (e) {
    const shown = await page.evaluate(() => document.querySelector('#main')?.innerText || '').catch(() => '?');
    throw new Error(`${e.message}\n--- the page showed:\n${shown.slice(0, 2000)}`);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: make deps installs Debian's chromium`);
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await new Server().start();
  admin = await server.admin();
  let r = await server.req('POST', '/v1/databases/shop', { token: admin });
  assert.equal(r.status, 200, r.text);
  await sql('shop', 'CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL)');
  const values = Array.from({ length: 120 }, (_, i) => `(${i + 1}, 'item ${String(i + 1).padStart(3, '0')}', ${(i * 7) % 200})`);
  await sql('shop', `INSERT INTO items VALUES ${values.join(', ')}`);
  await server.publish('livedb');
  browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--no-first-run', '--disable-extensions'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.cleanup();
});

test('the console, end to end', async () => {
  const page = watch(await context.newPage());
  const t0 = Date.now();
  await page.goto(server.url + '/');
  // signing in
  await page.waitForSelector('#signin');
  await page.fill('#signin input[name=password]', 'wrong');
  await page.click('#signin button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#signin-error').textContent.length > 0);
  await page.fill('#signin input[name=password]', PASSWORD);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#db-list >> text=shop');
  await page.waitForSelector('#db-list >> text=livedb');
  // what only Atrium knows (/-/usage): the door that made each database and the doors that used it
  const shopRow = page.locator('#db-list tr', { hasText: 'shop' });
  await shopRow.locator('.door >> text=airsequel').waitFor();
  assert.match(await shopRow.textContent(), /typedb/);
  assert.match(await page.locator('#db-list tr', { hasText: 'livedb' }).textContent(), /spacetimedb/);
  console.log(`# console: first load to the database list ${Date.now() - t0} ms`);
  await shot(page, 'databases');

  // a table: count, keyset pages by scrolling (only the rows in view are drawn), filter, sort
  await page.click('#db-list >> text=shop');
  await page.click('#table-list >> text=items');
  await page.waitForSelector('#grid tbody.rows tr');
  await page.waitForSelector('#grid-info >> text=50 of 120 rows');
  for (const have of [100, 120]) {
    // a user who reaches the end and sees nothing come scrolls again: the test
    // does too (at most three times), and says what the grid showed each time
    for (let tries = 1; ; tries++) {
      await page.$eval('#grid', (el) => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); });
      try {
        // a page that lands while the user is still at the end may bring the next one too
        await page.waitForFunction((n) => parseInt(document.querySelector('#grid-info')?.textContent, 10) >= n,
          have, { timeout: STEP_MS / 3 });
        break;
      } catch (e) {
        const grid = await page.$eval('#grid', (el) => `info "${document.querySelector('#grid-info')?.textContent}", ` +
          `scrollTop ${el.scrollTop}, scrollHeight ${el.scrollHeight}, clientHeight ${el.clientHeight}`).catch((x) => x.message);
        console.log(`# console: no ${have} rows after scroll ${tries}: ${grid}; problems so far: ${JSON.stringify(problems)}`);
        if (tries === 3) throw e;
      }
    }
  }
  await page.$eval('#grid', (el) => { el.scrollTop = el.scrollHeight; el.dispatchEvent(new Event('scroll')); });
  await page.waitForSelector('#grid tbody.rows tr >> text=item 120');
  const drawn = await page.locator('#grid tbody.rows tr').count();
  assert.ok(drawn < 120, `${drawn} rows drawn for 120 loaded`);
  // keyboard: arrows move through rows, scrolling the window with them
  await page.$eval('#grid', (el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
  await page.click('#grid tbody.rows tr[data-row="0"] td:first-child');
  await page.keyboard.press('Escape');
  await page.focus('#grid tbody.rows tr[data-row="0"]');
  for (let i = 0; i < 70; i++) await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.row), '70');
  await page.selectOption('#filter-col', 'price');
  await page.selectOption('#filter-op', 'gte');
  await page.fill('#filter-value', '190');
  await page.click('#filter-form button[type=submit]');
  const want = (await sql('shop', 'SELECT count(*) AS n FROM items WHERE price >= 190')).rows[0].n;
  await page.waitForSelector(`#grid-info >> text=${want} of ${want} rows`);
  await page.click('#filters .chip button');
  await page.waitForSelector('#grid-info >> text=50 of 120 rows');
  await page.click('#grid th >> text=name');
  await page.click('#grid th >> text=name'); // second click: descending
  await page.waitForSelector('#grid tbody.rows tr:first-child >> text=item 120');
  await shot(page, 'table');

  // edit a row; another door (Airsequel's /sql) sees it
  await page.click('#grid tbody.rows tr:first-child');
  await page.waitForSelector('#row-form');
  await page.fill('#row-form input[name=name]', 'renamed in the console');
  await page.waitForSelector('#edit-preview >> text=renamed in the console');
  await page.click('#save-row');
  await page.waitForSelector('#grid >> text=renamed in the console');
  const row = (await sql('shop', 'SELECT name FROM items WHERE id = 120')).rows[0];
  assert.equal(row.name, 'renamed in the console');

  // SQL and GraphQL
  await page.click('text=shop');
  await seen(page, '#table-list >> text=items');
  // completion from the schema: SQL from the tables, GraphQL from the introspection
  await page.click('#sql .cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('select pri from ite');
  await page.keyboard.press('Control+Space');
  await page.waitForSelector('#sql .cm-tooltip-autocomplete >> text=items');
  await page.keyboard.press('Escape');
  await page.click('#graphql .cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('{ ite');
  await page.keyboard.press('Control+Space');
  await page.waitForSelector('#graphql .cm-tooltip-autocomplete >> text=items');
  await page.keyboard.press('Escape');
  await page.fill('#sql .cm-content', 'select count(*) as n from items');
  await page.click('#run-sql');
  await seen(page, '#sql-result td >> text=120');
  await page.fill('#graphql .cm-content', '{ items(limit: 2, where: {id: {_eq: 120}}) { id name } }');
  await page.click('#run-graphql');
  await seen(page, '#graphql-result >> text=renamed in the console');
  // the API panel shows the same read through the four doors
  await page.click('#show-api');
  await page.waitForSelector('#api-panel >> text=SpacetimeDB');
  assert.match(await page.textContent('#api-panel'), /curl -X POST/);
  await page.click('#api-close');
  // the history is the server's: a fresh page (any browser) finds both queries again
  const history = async () => JSON.parse((await server.req('GET', '/-/history/shop', { token: admin })).text).history;
  for (let i = 0; i < 50 && (await history()).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual((await history()).map((x) => x.language), ['graphql', 'sql']);
  await page.reload();
  await seen(page, '#table-list >> text=items');
  await page.waitForFunction(() => [...document.querySelectorAll('#sql-history option')].some((o) => o.value === 'select count(*) as n from items'));
  await page.waitForFunction(() => [...document.querySelectorAll('#graphql-history option')].some((o) => o.value.includes('_eq: 120')));
  await seen(page, '#sql .cm-content');
  await page.selectOption('#sql-history', 'select count(*) as n from items');
  assert.equal(await page.textContent('#sql .cm-content'), 'select count(*) as n from items');
  // the write guard: a dry run reports what a statement would change and writes nothing
  await page.fill('#sql .cm-content', 'delete from items where id <= 10');
  await page.click('#dry-run-sql');
  await page.waitForSelector('#dry-run >> text=would change 10 row(s)');
  assert.equal((await sql('shop', 'SELECT count(*) AS n FROM items')).rows[0].n, 120);
  // TypeDB-style transaction mode: a rolled-back insert leaves nothing, a committed one stays
  for (const [end, id] of [['#tx-rollback', 900], ['#tx-commit', 901]]) {
    await page.selectOption('#tx-type', 'write');
    await page.click('#tx-open');
    await page.waitForSelector('#tx-list >> text=write');
    await page.fill('#tx-query', `insert into items(id, name, price) values (${id}, 'tx ${id}', 1)`);
    await page.click('#tx-run');
    await page.waitForSelector('#tx-result >> text=write query');
    await page.click(end);
    await page.waitForSelector(`#tx-result >> text=${end === '#tx-commit' ? 'Committed.' : 'Rolled back.'}`);
  }
  const kept = (await sql('shop', 'SELECT id FROM items WHERE id IN (900, 901)')).rows.map((r) => r.id);
  assert.deepEqual(kept, [901]);
  await shot(page, 'database');


  // live: a subscription in this tab, an insert through the Datasette write API in another
  await page.goto(server.url + '/#/live?db=shop&q=' + encodeURIComponent('SELECT * FROM items'));
  await page.waitForSelector('#live-status >> text=subscribed');
  const other = watch(await context.newPage());
  await other.goto(server.url + '/#/db/shop/items');
  await other.waitForSelector('#grid tbody.rows tr');
  await other.click('#insert-row');
  await other.fill('#row-form input[name=id]', '500');
  await other.fill('#row-form input[name=name]', 'from the other tab');
  await other.fill('#row-form input[name=price]', '9.5');
  await other.click('#save-row');
  await page.waitForSelector('#live-log >> text=from the other tab');
  assert.match(await page.textContent('#live-log'), /\+ items .*from the other tab.*via Datasette door/);
  // a write through another door is labelled with that door
  await sql('shop', "INSERT INTO items(id, name, price) VALUES (501, 'through airsequel', 1)");
  await page.waitForSelector('#live-log >> text=through airsequel');
  assert.match(await page.textContent('#live-log'), /through airsequel.*via Airsequel door/);
  await other.close();
  await shot(page, 'live');

  // a reducer, from the form its parameter types made
  await page.fill('#live-db', 'livedb');
  await page.fill('#live-query', 'SELECT * FROM person');
  await page.click('#live-form button[type=submit]');
  await page.waitForSelector('#live-status >> text=subscribed');
  await page.waitForSelector('form[data-reducer=add]');
  const inputs = page.locator('form[data-reducer=add] input');
  await inputs.nth(0).fill('7');
  await inputs.nth(1).fill('Ada');
  await inputs.nth(2).fill('36');
  await page.click('form[data-reducer=add] button');
  await page.waitForSelector('#live-log >> text=via reducer add');
  assert.match(await page.textContent('#live-log'), /\+ person .*Ada/);

  // a CSV upload, with progress, becomes a database
  await page.goto(server.url + '/#/');
  await page.waitForSelector('#db-list');
  const lines = ['id,name,score'];
  for (let i = 0; i < 60000; i++) lines.push(`${i},name ${i},${(i * 13) % 1000}`);
  await page.setInputFiles('#upload-db input[type=file]', {
    name: 'scores.csv', mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n')),
  });
  await page.fill('#upload-db input[name=upname]', 'scores');
  await page.click('#upload-db button[type=submit]');
  // under TSan the import alone can take tens of seconds: wait for its end, either way, and say which
  await page.waitForFunction(() => /^(done|failed)/.test(document.querySelector('#upload-progress span')?.textContent || ''),
    null, { timeout: 3 * STEP_MS });
  assert.equal(await page.textContent('#upload-progress span'), 'done');
  await page.waitForSelector('#db-list >> text=scores');
  const n = (await sql('scores', 'SELECT count(*) AS n FROM scores')).rows[0].n;
  assert.equal(n, 60000);

  // schema from the console (Airsequel's table routes), then foreign keys both ways
  await page.goto(server.url + '/#/db/shop');
  await page.fill('#new-table', 'orders');
  await page.fill('#new-table-columns', 'id INTEGER pk\nqty INTEGER');
  await page.click('#create-table button[type=submit]');
  await page.waitForSelector('#columns-editor');
  await page.click('#columns-editor summary');
  await page.fill('#col-name', 'note');
  await page.click('#add-column button[type=submit]');
  await page.waitForSelector('#grid th >> text=note');
  await sql('shop', 'CREATE TABLE lines(id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items(id), n INTEGER)');
  await sql('shop', 'INSERT INTO lines VALUES (1, 5, 2), (2, 5, 3), (3, 6, 1)');
  await page.goto(server.url + '/#/db/shop/lines');
  await page.waitForSelector('#grid a.fk');
  await page.click('#grid tbody.rows tr:first-child a.fk');
  await page.waitForSelector('#grid-info >> text=1 of 1 rows');
  await page.click('#grid tbody.rows tr:first-child');
  await page.click('#incoming a.fk-in');
  await page.waitForSelector('#grid-info >> text=2 of 2 rows');
  await shot(page, 'foreign-keys');
  await page.goto(server.url + '/#/db/shop');
  await page.click('#diagram summary');
  await page.waitForSelector('#schema-diagram path.fk-line[data-from="lines.item_id"][data-to="items"]');
  await shot(page, 'schema-diagram');

  // API tokens: create one for a database, see it listed (masked), revoke it
  await page.goto(server.url + '/#/tokens');
  await seen(page, '#api-token-form');
  await page.waitForFunction(() => document.querySelectorAll('#api-token-db option').length > 0);
  await page.fill('#api-token-name', 'reporting');
  await page.selectOption('#api-token-db', { label: 'shop' });
  await page.selectOption('#api-token-perm', 'read');
  await page.click('#api-token-form button[type=submit]');
  await seen(page, '#api-token-out >> text=Shown once');
  const secret = (await page.textContent('#api-token-out')).split('\n')[0];
  let r = await server.req('POST', '/dbs/shop/sql', { token: secret, json: { query: 'SELECT count(*) AS n FROM items' } });
  assert.equal(r.status, 200, r.text);
  await seen(page, '#api-token-list tr >> text=reporting');
  assert.match(await page.textContent('#api-token-list'), /shop: read/);
  assert.ok(!(await page.textContent('#api-token-list')).includes(secret), 'the secret is shown once only');
  await shot(page, 'tokens');
  page.once('dialog', (d) => d.accept());
  await page.click('#api-token-list tr:has-text("reporting") button.revoke');
  await seen(page, 'p#api-token-list >> text=No API tokens yet');
  r = await server.req('POST', '/dbs/shop/sql', { token: secret, json: { query: 'SELECT 1' } });
  assert.equal(r.status, 401, 'a revoked token stops at once');

  // metrics and operations pages
  await page.goto(server.url + '/#/metrics');
  await page.waitForSelector('#metrics >> text=atrium_http_requests_total');
  await shot(page, 'metrics');
  await page.goto(server.url + '/#/ops');
  await page.waitForSelector('#ops');
  await shot(page, 'operations');

  assert.deepEqual(foreign, [], 'every request stays on the server\'s origin');
  assert.deepEqual(problems, [], 'the page logged no errors');
  await page.close();
});

test('the console is small, cached and locked to its origin', async () => {
  const r = await fetch(server.url + '/', { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(r.status, 200);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  const etag = r.headers.get('etag');
  assert.ok(etag);
  const again = await fetch(server.url + '/', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  // what a first visit transfers (gzip), every file of the console
  let total = 0;
  for (const f of ['app.js', 'api.js', 'app.css', 'editor.js']) {
    const a = await fetch(`${server.url}/-/console/${f}`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(a.status, 200, f);
    assert.equal(a.headers.get('content-encoding'), 'gzip', f);
    total += Number(a.headers.get('content-length'));
    await a.arrayBuffer();
  }
  total += Number(r.headers.get('content-length'));
  const missing = await fetch(`${server.url}/-/console/../../etc/passwd`);
  assert.equal(missing.status, 404);
  console.log(`# console: ${total} bytes gzipped, page, scripts, editor and styles`);
  assert.ok(total < 512 * 1024, `${total} bytes`);
});
