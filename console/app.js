// app.js: the console's views. A hash route per page (#/, #/db/NAME,
// #/db/NAME/TABLE, #/live, #/ops, #/metrics, #/tokens); each view reads and
// writes through the dialects' public routes (api.js).
import { session, request, upload, calls, onCall, equivalents, ApiError } from './api.js';

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $('#main');

// h('div', {class: 'x', onclick: fn}, child, 'text', ...) → Element
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'style') Object.assign(el.style, v); // CSSOM: the page's CSP forbids style attributes
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}

function toast(msg, bad = false) {
  const t = h('div', { class: bad ? 'bad' : '' }, msg);
  $('#toast').append(t);
  setTimeout(() => t.remove(), bad ? 7000 : 3500);
}

function fail(e) { toast(e instanceof ApiError || e instanceof Error ? e.message : String(e), true); }

function bytes(n) {
  if (n == null) return '';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

// Datasette's tilde encoding of a path segment (table names, keys).
function tilde(s) {
  let out = '';
  for (const b of new TextEncoder().encode(String(s))) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9_-]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += '~' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

let stopView = () => {};   // the current view's cleanup (timers, sockets)

// ---- sign-in ---------------------------------------------------------------

function showSignin(reason) {
  stopView();
  stopView = () => {};
  const err = h('p', { class: 'bad', id: 'signin-error' }, reason || '');
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, value: 'admin' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { id: 'signin', class: 'card', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const r = await request('POST', '/v1/signin', { json: { username: user.value, password: pass.value },
                                                        signinOn401: false, note: 'sign in' });
      session.token = r.token;
      session.user = user.value;
      header();
      route();
    } catch (e) { err.textContent = e.message; }
  } },
  h('h1', {}, 'Sign in'),
  h('p', { class: 'muted' }, 'A user of this server (TypeDB-style /v1/signin). The token is kept in this browser until you sign out or it expires.'),
  h('div', { class: 'kv' }, h('label', {}, 'User'), user, h('label', {}, 'Password'), pass),
  h('div', { class: 'row' }, h('button', { class: 'primary', type: 'submit' }, 'Sign in'),
    h('button', { type: 'button', onclick: () => { session.token = ''; session.user = ''; sessionStorage.setItem('atrium.anonymous', '1'); header(); location.hash = '#/'; route(); } },
      'Continue without signing in')),
  err);
  main().replaceChildren(form);
  pass.focus();
}

function header() {
  $('#who').textContent = session.token ? `signed in as ${session.user || 'token'}` : 'anonymous';
  $('#signout').hidden = !session.token;
}

// ---- databases -------------------------------------------------------------

async function viewDatabases() {
  const list = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const name = h('input', { name: 'name', placeholder: 'new_database', pattern: '[A-Za-z0-9_\\-]+', required: true });
  const create = h('form', { class: 'row', id: 'create-db', onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      await request('POST', `/v1/databases/${encodeURIComponent(name.value)}`, { note: 'create a database' });
      toast(`Created ${name.value}`);
      name.value = '';
      load();
    } catch (e) { fail(e); }
  } }, name, h('button', { type: 'submit' }, 'Create database'));

  const file = h('input', { type: 'file', name: 'file', accept: '.db,.sqlite,.sqlite3,.csv,text/csv' });
  const upName = h('input', { name: 'upname', placeholder: 'name (optional)' });
  const bar = h('div', {});
  const prog = h('div', { class: 'row', id: 'upload-progress', hidden: true }, h('div', { class: 'progress' }, bar), h('span', {}));
  const up = h('form', { class: 'row', id: 'upload-db', onsubmit: async (ev) => {
    ev.preventDefault();
    if (!file.files.length) return toast('Choose a SQLite or CSV file first', true);
    const form = new FormData();
    form.append('file', file.files[0]);
    if (upName.value) form.append('name', upName.value);
    prog.hidden = false;
    const label = prog.lastChild;
    // server-side phases (checking, importing) from /-/operations while the bytes go up;
    // a poll answered after the upload's own answer must not overwrite 'done'
    let finished = false;
    const poll = setInterval(async () => {
      try {
        const ops = (await request('GET', '/-/operations', { note: 'upload progress' })).operations || [];
        const op = ops.find((o) => o.kind === 'upload' && o.state === 'running');
        if (op && !finished) label.textContent = `${op.phase}: ${op.total ? Math.round(100 * op.done / op.total) + '%' : bytes(op.done)}`;
      } catch { /* keep uploading */ }
    }, 400);
    try {
      const r = await upload('/dbs', form, (sent, total) => {
        bar.style.width = total ? (100 * sent / total).toFixed(1) + '%' : '50%';
        label.textContent = `sending ${bytes(sent)}${total ? ' of ' + bytes(total) : ''}`;
      }, 'upload a database');
      finished = true;
      bar.style.width = '100%';
      label.textContent = 'done';
      toast(`Uploaded ${r.name || r.databaseName || file.files[0].name}`);
      load();
    } catch (e) { finished = true; fail(e); label.textContent = 'failed: ' + e.message; }
    finally { clearInterval(poll); }
  } }, file, upName, h('button', { type: 'submit' }, 'Upload'), prog);

  main().replaceChildren(h('h1', {}, 'Databases'), list,
    h('h2', {}, 'New'), create, h('h2', {}, 'Upload SQLite or CSV'), up);

  async function load() {
    try {
      // Airsequel's list, and what only Atrium knows: WAL size, the doors that made and used each
      const [r, u] = await Promise.all([request('GET', '/api/dbs', { note: 'list databases (Airsequel)' }),
        request('GET', '/-/usage', { note: 'sizes and doors (Atrium)' }).catch(() => ({ databases: [] }))]);
      const usage = Object.fromEntries((u.databases || []).map((x) => [x.name, x]));
      const doors = (x) => !x ? '' : Object.entries(x.last_used_utc).filter(([, t]) => t)
        .map(([door, t]) => h('span', { class: 'door', title: `last used through ${door}: ${t.replace('T', ' ').slice(0, 19)}` }, door));
      const rows = (r.databases || []).map((d) => h('tr', {},
        h('td', {}, h('a', { href: `#/db/${encodeURIComponent(d.name)}` }, d.name)),
        h('td', { class: 'num' }, bytes(d.size)),
        h('td', { class: 'num' }, usage[d.name] ? bytes(usage[d.name].wal_bytes) : ''),
        h('td', { class: 'num' }, (d.tables || []).length),
        h('td', {}, d.owner || ''),
        h('td', {}, usage[d.name] ? (usage[d.name].created_by || (usage[d.name].served_in_place ? 'a file served in place' : '')) : ''),
        h('td', { class: 'doors' }, doors(usage[d.name])),
        h('td', {}, d.visibility || ''),
        h('td', {}, d.lastModifiedUtc ? d.lastModifiedUtc.replace('T', ' ').slice(0, 19) : ''),
        h('td', {},
          h('button', { type: 'button', onclick: () => download(d.name) }, 'Download'), ' ',
          h('button', { type: 'button', onclick: async () => {
            if (!confirm(`Delete ${d.name} and all its data?`)) return;
            try { await request('DELETE', `/v1/databases/${encodeURIComponent(d.name)}`, { note: 'delete a database' }); load(); }
            catch (e) { fail(e); }
          } }, 'Delete'))));
      list.replaceChildren(rows.length ? h('table', { class: 'grid', id: 'db-list' },
        h('thead', {}, h('tr', {}, ['Name', 'Size', 'WAL', 'Tables', 'Owner', 'Created through', 'Used through', 'Visibility', 'Modified', ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, rows)) : h('p', { class: 'muted' }, 'No databases you can see yet.'));
    } catch (e) { list.replaceChildren(h('p', { class: 'bad' }, e.message)); }
  }
  load();
}

async function download(db) {
  try {
    const blob = await request('GET', `/dbs/${encodeURIComponent(db)}/download`, { raw: true, note: 'download a snapshot' });
    const a = h('a', { href: URL.createObjectURL(blob), download: db + '.sqlite' });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  } catch (e) { fail(e); }
}

// ---- one database: tables, SQL, GraphQL ----------------------------------------

// The query history is the server's (/-/history/DB, the signed-in user's own),
// so it follows the user to any browser; anonymous sessions keep none.
function history(db) {
  const path = `/-/history/${encodeURIComponent(db)}`;
  let entries = [];
  return {
    all: (language) => entries.filter((e) => e.language === language).map((e) => e.text),
    async load() {
      if (!session.token) return;
      try { entries = (await request('GET', path, { note: 'query history', signinOn401: false })).history || []; }
      catch { entries = []; }
    },
    async add(text, language) {
      if (!session.token) return;
      try { entries = (await request('POST', path, { json: { text, language }, note: 'keep it in the history', signinOn401: false })).history || entries; }
      catch { /* the history is a convenience: the query itself ran */ }
    },
  };
}

function resultGrid(columns, rows) {
  return h('div', { class: 'scroller' }, h('table', { class: 'grid' },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c, i) => cell(Array.isArray(r) ? r[i] : r[c])))))));
}

function cell(v) {
  if (v === null || v === undefined) return h('td', { class: 'null' }, 'null');
  if (typeof v === 'number') return h('td', { class: 'num' }, String(v));
  if (typeof v === 'object') return h('td', {}, JSON.stringify(v));
  return h('td', { title: String(v).length > 60 ? String(v) : null }, String(v));
}


// A TypeDB-style answer's rows as plain columns and values.
function conceptRows(r) {
  const rows = (r.answers || []).map((a) => a.data || {});
  const cols = rows.length ? Object.keys(rows[0]) : [];
  return { cols, rows: rows.map((d) => cols.map((c) => (d[c] && typeof d[c] === 'object' && 'value' in d[c] ? d[c].value : d[c]))) };
}

// Open TypeDB-style transactions of this tab: id → {db, type, deadline}.
const openTx = new Map();


// The schema as a diagram: a box per table with its columns, a line from
// each foreign-key column to the table it names. SVG made through the DOM
// (presentation attributes, no style attributes: the CSP forbids those).
function schemaDiagram(tables) {
  const NS = 'http://www.w3.org/2000/svg';
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  };
  const W = 190, LINE = 16, GAP = 50, PER_ROW = 4;
  const pos = new Map();
  let y = 10, rowH = 0;
  tables.forEach((t, i) => {
    if (i && i % PER_ROW === 0) { y += rowH + GAP; rowH = 0; }
    const hgt = LINE * (1 + (t.columns || []).length) + 8;
    pos.set(t.name, { x: 10 + (i % PER_ROW) * (W + GAP), y, h: hgt });
    rowH = Math.max(rowH, hgt);
  });
  const svg = el('svg', { id: 'schema-diagram', width: PER_ROW * (W + GAP), height: y + rowH + 20, class: 'diagram' });
  for (const t of tables) {
    const p = pos.get(t.name);
    svg.append(el('rect', { x: p.x, y: p.y, width: W, height: p.h, rx: 4, fill: 'none', stroke: 'currentColor', 'stroke-opacity': '0.5' }));
    svg.append(el('text', { x: p.x + 8, y: p.y + 14, 'font-weight': 'bold', fill: 'currentColor' }, t.name));
    (t.columns || []).forEach((c, k) => svg.append(el('text', { x: p.x + 8, y: p.y + 14 + LINE * (k + 1), fill: 'currentColor',
      'font-size': '12' }, c + ((t.primary_keys || []).includes(c) ? '  (pk)' : ''))));
  }
  for (const t of tables) for (const f of (t.foreign_keys && t.foreign_keys.outgoing) || []) {
    const a = pos.get(t.name), b = pos.get(f.other_table);
    if (!a || !b) continue;
    const k = (t.columns || []).indexOf(f.column);
    const y1 = a.y + 10 + LINE * (k + 1), y2 = b.y + 10;
    const x1 = b.x > a.x ? a.x + W : a.x, x2 = b.x > a.x ? b.x : b.x + W;
    svg.append(el('path', { d: `M${x1},${y1} C${(x1 + x2) / 2},${y1} ${(x1 + x2) / 2},${y2} ${x2},${y2}`, fill: 'none',
      stroke: 'currentColor', 'stroke-width': '1.5', class: 'fk-line', 'data-from': `${t.name}.${f.column}`, 'data-to': f.other_table }));
  }
  return svg;
}

async function viewDatabase(db) {
  const tables = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const diagram = h('details', { class: 'card', id: 'diagram' }, h('summary', {}, 'Schema diagram'));
  const hist = history(db);
  // a textarea until the editor (CodeMirror, console/editor.js) has loaded; both have .value
  let sql = h('textarea', { id: 'sql', rows: 6, spellcheck: 'false', placeholder: 'select * from …' });
  let schemaFor = null;
  const editorReady = import('./editor.js').then((m) => {
    const host = h('div', { id: 'sql', class: 'editor' });
    const ed = m.sqlEditor(host, { doc: sql.value, onRun: () => run() });
    sql.replaceWith(host);
    sql = ed;
    if (schemaFor) ed.setSchema(schemaFor);
    const ghost = h('div', { id: 'graphql', class: 'editor' });
    const ged = m.graphqlEditor(ghost, { doc: gql.value, onRun: () => runGql() });
    gql.replaceWith(ghost);
    gql = ged;
    // completion and checks from the endpoint's own introspection
    request('POST', `/dbs/${encodeURIComponent(db)}/graphql`, { json: { query: m.getIntrospectionQuery() }, note: 'GraphQL introspection (Airsequel)' })
      .then((r) => ged.setIntrospection(r.data)).catch(() => {});
  }).catch((e) => toast('The SQL editor did not load; a plain text box stands in: ' + e.message, true));
  const sqlOut = h('div', { id: 'sql-result' });
  const histSel = h('select', { id: 'sql-history', onchange: () => { if (histSel.value) sql.value = histSel.value; } });
  const fillHist = () => {
    histSel.replaceChildren(h('option', { value: '' }, 'History…'), ...hist.all('sql').map((q) => h('option', { value: q }, q.slice(0, 80))));
    gqlHist.replaceChildren(h('option', { value: '' }, 'History…'), ...hist.all('graphql').map((q) => h('option', { value: q }, q.replace(/\s+/g, ' ').slice(0, 80))));
  };
  const gqlHist = h('select', { id: 'graphql-history', onchange: () => { if (gqlHist.value) gql.value = gqlHist.value; } });
  hist.load().then(fillHist);
  const run = async (prefix = '') => {
    const q = prefix + sql.value;
    if (!sql.value.trim()) return;
    try {
      const t0 = performance.now();
      const r = await request('POST', `/dbs/${encodeURIComponent(db)}/sql`, { json: { query: q }, note: 'run SQL (Airsequel)', sql: q, db });
      const ms = (performance.now() - t0).toFixed(1);
      hist.add(sql.value, 'sql').then(fillHist);
      const rows = r.rows || [];
      const cols = r.columns || (rows[0] ? Object.keys(rows[0]) : []);
      sqlOut.replaceChildren(h('p', { class: 'muted' }, `${rows.length} row${rows.length === 1 ? '' : 's'} in ${ms} ms` +
        (r.affectedTableNames && r.affectedTableNames.length ? ` — changed ${r.affectedTableNames.join(', ')}` : '')),
        resultGrid(cols, rows));
    } catch (e) { sqlOut.replaceChildren(h('p', { class: 'bad' }, e.message)); }
  };
  sql.addEventListener('keydown', (ev) => { if ((ev.ctrlKey || ev.metaKey) && ev.key === 'Enter') run(); });

  // The write guard: the statement runs in a write (or schema) transaction
  // that is always rolled back, and reports what it would have changed.
  const dryRun = async () => {
    const q = sql.value.trim();
    if (!q) return;
    let id = null;
    try {
      let kind = 'write';
      for (const type of ['write', 'schema']) {
        const o = await request('POST', '/v1/transactions/open', { json: { databaseName: db, transactionType: type }, note: 'dry run: open (TypeDB-style)' });
        id = o.transactionId;
        kind = type;
        try {
          await request('POST', `/v1/transactions/${id}/query`, { json: { query: q }, note: 'dry run: the statement' });
          break;
        } catch (e) {
          await request('POST', `/v1/transactions/${id}/close`, { note: 'dry run: close' }).catch(() => {});
          id = null;
          if (type === 'schema' || !/schema transactions/i.test(e.message)) throw e;
        }
      }
      const c = conceptRows(await request('POST', `/v1/transactions/${id}/query`, { json: { query: 'select changes() as rows_changed, total_changes() as total' }, note: 'dry run: count' }));
      await request('POST', `/v1/transactions/${id}/rollback`, { note: 'dry run: roll back' });
      await request('POST', `/v1/transactions/${id}/close`, { note: 'dry run: close' }).catch(() => {});
      id = null;
      sqlOut.replaceChildren(h('p', { class: 'good', id: 'dry-run' }, `Dry run (${kind} transaction, rolled back): would change ${c.rows[0] ? c.rows[0][0] : 0} row(s). Nothing was written.`));
    } catch (e) {
      if (id) await request('POST', `/v1/transactions/${id}/close`, { note: 'dry run: close' }).catch(() => {});
      sqlOut.replaceChildren(h('p', { class: 'bad' }, 'Dry run: ' + e.message));
    }
  };

  // TypeDB-style transaction mode: open, run statements, commit or roll back.
  const txType = h('select', { id: 'tx-type' }, ['read', 'write', 'schema'].map((t) => h('option', { value: t }, t)));
  const txTimeout = h('input', { id: 'tx-timeout', type: 'number', value: 300, min: 1, title: 'seconds' });
  const txQuery = h('textarea', { id: 'tx-query', rows: 3, spellcheck: 'false', placeholder: 'a statement to run inside the transaction' });
  const txOut = h('div', { id: 'tx-result' });
  const txList = h('div', { id: 'tx-list' });
  let current = null;
  const renderTx = () => {
    const mine = [...openTx.entries()].filter(([, t]) => t.db === db);
    txList.replaceChildren(mine.length ? h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['Transaction', 'Type', 'Times out in', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, mine.map(([id, t]) => h('tr', { class: id === current ? 'sel' : '' },
        h('td', {}, id.slice(0, 8)), h('td', {}, t.type),
        h('td', {}, Math.max(0, Math.round((t.deadline - Date.now()) / 1000)) + ' s'),
        h('td', {}, h('button', { type: 'button', onclick: () => { current = id; renderTx(); } }, 'Use')))))) : h('p', { class: 'muted' }, 'No open transaction.'));
  };
  const txTimer = setInterval(() => {
    for (const [id, t] of openTx) if (t.deadline < Date.now()) { openTx.delete(id); if (current === id) current = null; }
    renderTx();
  }, 1000);
  stopView = () => clearInterval(txTimer);
  const txEnd = async (what) => {
    if (!current) return;
    const id = current;
    try {
      await request('POST', `/v1/transactions/${id}/${what}`, { note: `${what} a transaction (TypeDB-style)` });
      if (what !== 'close') await request('POST', `/v1/transactions/${id}/close`, { note: 'close' }).catch(() => {});
      txOut.replaceChildren(h('p', { class: 'good' }, what === 'commit' ? 'Committed.' : what === 'rollback' ? 'Rolled back.' : 'Closed.'));
    } catch (e) { txOut.replaceChildren(h('p', { class: 'bad' }, e.message)); }
    openTx.delete(id);
    current = null;
    renderTx();
  };
  const txPanel = h('section', { id: 'tx-panel' }, h('h2', {}, 'Transaction mode'),
    h('div', { class: 'row' }, txType, h('label', {}, 'timeout (s)'), txTimeout,
      h('button', { type: 'button', id: 'tx-open', onclick: async () => {
        try {
          const ms = Number(txTimeout.value) * 1000;
          const o = await request('POST', '/v1/transactions/open', { json: { databaseName: db, transactionType: txType.value,
            transactionOptions: { transactionTimeoutMillis: ms } }, note: 'open a transaction (TypeDB-style)' });
          openTx.set(o.transactionId, { db, type: txType.value, deadline: Date.now() + ms });
          current = o.transactionId;
          txOut.replaceChildren(h('p', { class: 'muted' }, `Opened ${txType.value} transaction ${o.transactionId}.`));
          renderTx();
        } catch (e) { txOut.replaceChildren(h('p', { class: 'bad' }, e.message)); }
      } }, 'Open')),
    txQuery,
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'primary', id: 'tx-run', onclick: async () => {
        if (!current) return txOut.replaceChildren(h('p', { class: 'bad' }, 'Open a transaction first.'));
        try {
          const r = await request('POST', `/v1/transactions/${current}/query`, { json: { query: txQuery.value }, note: 'query in a transaction (TypeDB-style)' });
          const c = conceptRows(r);
          txOut.replaceChildren(h('p', { class: 'muted' }, `${r.queryType} query: ${r.answerType}`), c.cols.length ? resultGrid(c.cols, c.rows) : '');
        } catch (e) { txOut.replaceChildren(h('p', { class: 'bad' }, e.message)); }
      } }, 'Run in transaction'),
      h('button', { type: 'button', id: 'tx-commit', onclick: () => txEnd('commit') }, 'Commit'),
      h('button', { type: 'button', id: 'tx-rollback', onclick: () => txEnd('rollback') }, 'Roll back'),
      h('button', { type: 'button', onclick: () => txEnd('close') }, 'Close')),
    txList, txOut);
  renderTx();

  let gql = h('textarea', { id: 'graphql', rows: 6, spellcheck: 'false' });
  const gqlOut = h('pre', { id: 'graphql-result' });
  const runGql = async () => {
    try {
      const text = gql.value;
      const r = await request('POST', `/dbs/${encodeURIComponent(db)}/graphql`, { json: { query: text }, note: 'GraphQL (Airsequel)' });
      gqlOut.textContent = JSON.stringify(r, null, 2);
      if (!r.errors) hist.add(text, 'graphql').then(fillHist);
    } catch (e) { gqlOut.textContent = e.data ? JSON.stringify(e.data, null, 2) : e.message; }
  };

  main().replaceChildren(
    h('p', {}, h('a', { href: '#/' }, 'Databases'), ' / ', db),
    h('h1', {}, db),
    h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => download(db) }, 'Download snapshot'),
      h('a', { href: `#/live?db=${encodeURIComponent(db)}` }, 'Live subscriptions and reducers')),
    h('h2', {}, 'Tables'), tables, diagram,
    createTableForm(db, (t) => { location.hash = `#/db/${encodeURIComponent(db)}/${encodeURIComponent(t)}`; }),
    h('div', { class: 'cols' },
      h('section', {}, h('h2', {}, 'SQL'), sql,
        h('div', { class: 'row' },
          h('button', { class: 'primary', type: 'button', id: 'run-sql', onclick: () => run() }, 'Run (Ctrl+Enter)'),
          h('button', { type: 'button', onclick: () => run('EXPLAIN QUERY PLAN ') }, 'Explain'),
          h('button', { type: 'button', id: 'dry-run-sql', title: 'Run in a transaction that is rolled back', onclick: dryRun }, 'Dry run'), histSel),
        sqlOut),
      h('section', {}, h('h2', {}, 'GraphQL'), gql,
        h('div', { class: 'row' }, h('button', { class: 'primary', type: 'button', id: 'run-graphql', onclick: runGql }, 'Run'), gqlHist),
        gqlOut)),
    txPanel);

  try {
    const r = await request('GET', `/${tilde(db)}.json`, { note: 'database page (Datasette)' });
    const all = [...(r.tables || []).filter((t) => !t.hidden), ...(r.views || []).map((v) => ({ name: v.name || v, view: true }))];
    if (all.length && !gql.value) {
      const t = all[0];
      gql.value = `{\n  ${t.name}(limit: 10) {\n    ${(t.columns || ['rowid']).slice(0, 6).join('\n    ')}\n  }\n}`;
    }
    schemaFor = Object.fromEntries(all.map((t) => [t.name, t.columns || []]));
    await editorReady;
    if (sql.setSchema) sql.setSchema(schemaFor);
    if (all.length && !sql.value) sql.value = `select * from ${JSON.stringify(all[0].name)} limit 20`;
    diagram.replaceChildren(h('summary', {}, 'Schema diagram'), schemaDiagram((r.tables || []).filter((t) => !t.hidden)));
    tables.replaceChildren(all.length ? h('table', { class: 'grid', id: 'table-list' },
      h('thead', {}, h('tr', {}, ['Table', 'Rows', 'Columns', 'Primary key'].map((c) => h('th', {}, c)))),
      h('tbody', {}, all.map((t) => h('tr', {},
        h('td', {}, h('a', { href: `#/db/${encodeURIComponent(db)}/${encodeURIComponent(t.name)}` }, t.name), t.view ? ' (view)' : ''),
        h('td', { class: 'num' }, t.count == null ? '' : t.count + (t.count_truncated ? '+' : '')),
        h('td', {}, (t.columns || []).join(', ')),
        h('td', {}, (t.primary_keys || []).join(', ')))))) : h('p', { class: 'muted' }, 'No tables yet: create one with SQL.'));
  } catch (e) { tables.replaceChildren(h('p', { class: 'bad' }, e.message)); }
}

// ---- one table: grid, filters, sort, keyset pages, edits --------------------------

const OPS = ['exact', 'not', 'contains', 'startswith', 'endswith', 'gt', 'gte', 'lt', 'lte', 'like', 'glob', 'in', 'notin',
  'isnull', 'notnull', 'isblank', 'notblank'];


const TYPES = ['TEXT', 'INTEGER', 'REAL', 'BLOB', 'NUMERIC', 'BOOLEAN', 'DATETIME'];

// Add, rename and drop columns through Airsequel's table REST routes.
function columnsEditor(db, table, changed) {
  const api = `/api/dbs/${encodeURIComponent(db)}/tables/${encodeURIComponent(table)}/columns/`;
  const name = h('input', { id: 'col-name', placeholder: 'column', required: true });
  const type = h('select', { id: 'col-type' }, TYPES.map((t) => h('option', { value: t }, t)));
  const notNull = h('input', { type: 'checkbox' });
  const dflt = h('input', { placeholder: 'default (needed with not null)' });
  const from = h('input', { placeholder: 'column to rename or drop', id: 'col-from' });
  const to = h('input', { placeholder: 'new name' });
  const act = (fn) => async (ev) => { ev.preventDefault(); try { await fn(); toast('Table changed'); changed(); } catch (e) { fail(e); } };
  return h('details', { class: 'card', id: 'columns-editor' }, h('summary', {}, 'Columns'),
    h('form', { class: 'row', id: 'add-column', onsubmit: act(() => {
      const body = { sqliteDataType: type.value, isNonNull: notNull.checked };
      if (dflt.value !== '') body.default = dflt.value;
      return request('PUT', api + encodeURIComponent(name.value), { json: body, note: 'add a column (Airsequel)' });
    }) }, name, type, h('label', {}, notNull, ' not null'), dflt, h('button', { type: 'submit' }, 'Add column')),
    h('form', { class: 'row', onsubmit: act(() => request('PATCH', api + encodeURIComponent(from.value), { json: { name: to.value }, note: 'rename a column (Airsequel)' })) },
      from, to, h('button', { type: 'submit' }, 'Rename'),
      h('button', { type: 'button', onclick: act(() => { if (!confirm(`Drop column ${from.value}?`)) throw new Error('kept'); return request('DELETE', api + encodeURIComponent(from.value), { note: 'drop a column (Airsequel)' }); }) }, 'Drop')));
}

// Create a table through Airsequel's REST route: one column a line, "name TYPE [pk] [not null]".
function createTableForm(db, done) {
  const name = h('input', { id: 'new-table', placeholder: 'table', required: true });
  const cols = h('textarea', { id: 'new-table-columns', rows: 3, placeholder: 'id INTEGER pk\nname TEXT not null' });
  return h('form', { class: 'card', id: 'create-table', onsubmit: async (ev) => {
    ev.preventDefault();
    const columns = cols.value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
      const [n, t = 'TEXT', ...rest] = l.split(/\s+/);
      const flags = rest.join(' ').toLowerCase();
      return { name: n, sqliteDataType: t.toUpperCase(), isPrimaryKey: /\bpk\b|primary/.test(flags), isNonNull: /not null/.test(flags) };
    });
    try {
      await request('PUT', `/api/dbs/${encodeURIComponent(db)}/tables/${encodeURIComponent(name.value)}`, { json: { columns }, note: 'create a table (Airsequel)' });
      toast(`Created ${name.value}`);
      done(name.value);
    } catch (e) { fail(e); }
  } }, h('strong', {}, 'New table '), name, cols, h('button', { type: 'submit' }, 'Create table'));
}

async function viewTable(db, table, params) {
  const state = { filters: [], sort: params.get('_sort') || '', desc: params.get('_sort_desc') || '', next: null, pages: [null],
                  facet: '', columns: [], pks: [], rows: [] };
  for (const [k, v] of params) if (k.includes('__') && !k.startsWith('_')) state.filters.push([k.split('__')[0], k.split('__')[1], v]);
  const base = `/${tilde(db)}/${tilde(table)}`;
  const grid = h('div', { class: 'scroller', id: 'grid' });
  const info = h('span', { class: 'muted', id: 'grid-info' });
  const chips = h('div', { class: 'chips', id: 'filters' });
  const colSel = h('select', { id: 'filter-col' });
  const opSel = h('select', { id: 'filter-op' }, OPS.map((o) => h('option', { value: o }, o)));
  const val = h('input', { id: 'filter-value', placeholder: 'value' });
  const facetSel = h('select', { id: 'facet-col', onchange: () => { state.facet = facetSel.value; load(null); } });
  const facets = h('div', { id: 'facets', class: 'chips' });
  const editor = h('div', { id: 'editor' });

  function query(nextTok) {
    const q = new URLSearchParams({ _size: '50', _extra: 'count,columns,primary_keys' });
    for (const [c, o, v] of state.filters) q.append(`${c}__${o}`, v);
    if (state.sort) q.set('_sort', state.sort);
    if (state.desc) q.set('_sort_desc', state.desc);
    if (state.facet) { q.append('_facet', state.facet); q.set('_extra', q.get('_extra') + ',facet_results'); }
    if (nextTok) q.set('_next', nextTok);
    return q;
  }

  // foreign keys both ways, from the database page: outgoing ones make
  // cells links to the row they name, incoming ones list the rows naming this one
  let fks = { incoming: [], outgoing: [] };
  const fkReady = request('GET', `/${tilde(db)}.json`, { note: 'foreign keys (Datasette)' })
    .then((d) => { const t = (d.tables || []).find((x) => x.name === table); if (t && t.foreign_keys) fks = t.foreign_keys; })
    .catch(() => {});
  const linkTo = (other, col, v) => `#/db/${encodeURIComponent(db)}/${encodeURIComponent(other)}?${encodeURIComponent(col + '__exact')}=${encodeURIComponent(v)}`;

  async function load(nextTok) {
    await fkReady;
    try {
      const r = await request('GET', `${base}.json?${query(nextTok)}`, { note: 'table page (Datasette)' });
      state.columns = r.columns || (r.rows[0] ? Object.keys(r.rows[0]) : []);
      state.pks = r.primary_keys || [];
      state.rows = r.rows || [];
      state.next = r.next;
      state.count = r.count;
      state.countTruncated = r.count_truncated;
      grid.scrollTop = 0;
      if (!colSel.options.length) {
        colSel.replaceChildren(...state.columns.map((c) => h('option', { value: c }, c)));
        facetSel.replaceChildren(h('option', { value: '' }, 'Facet by…'), ...state.columns.map((c) => h('option', { value: c }, c)));
      }
      render(r);
    } catch (e) { grid.replaceChildren(h('p', { class: 'bad' }, e.message)); }
  }

  // Virtual scroll: only the rows in view (and a margin) are in the DOM,
  // between two spacers; scrolling near the end fetches the next keyset page.
  const ROW_H = 26, MARGIN = 15, MAX_ROWS = 100000;
  const topPad = h('tbody', { class: 'pad' }, h('tr', {}, h('td', {})));
  const botPad = h('tbody', { class: 'pad' }, h('tr', {}, h('td', {})));
  const rowsBody = h('tbody', { class: 'rows' });
  let head = null, win = { start: -1, end: -1, n: -1 }, loadingMore = false;

  function rowEl(row, i) {
    const tr = h('tr', { tabindex: '0', 'data-row': i, onclick: () => edit(i), onkeydown: (ev) => {
      if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
        ev.preventDefault();
        const to = i + (ev.key === 'ArrowDown' ? 1 : -1);
        if (to < 0 || to >= state.rows.length) return;
        grid.scrollTop = Math.max(0, Math.min(grid.scrollTop, to * ROW_H), (to + 1) * ROW_H - grid.clientHeight + ROW_H);
        drawWindow(false);
        const el = rowsBody.querySelector(`tr[data-row="${to}"]`);
        if (el) el.focus({ preventScroll: true });
      } else if (ev.key === 'Enter') edit(i);
    } }, state.columns.map((c) => {
      const v = row[c] && typeof row[c] === 'object' && 'value' in row[c] ? row[c].value : row[c];
      const fk = v != null && fks.outgoing.find((f) => f.column === c);
      if (!fk) return cell(v);
      const label = row[c] && typeof row[c] === 'object' && row[c].label != null ? ` ${row[c].label}` : '';
      return h('td', {}, h('a', { href: linkTo(fk.other_table, fk.other_column, v), class: 'fk', onclick: (ev) => ev.stopPropagation() }, String(v) + label));
    }));
    return tr;
  }

  function drawWindow(force) {
    const n = state.rows.length;
    const inView = Math.ceil((grid.clientHeight || 600) / ROW_H);
    const start = Math.max(0, Math.floor(grid.scrollTop / ROW_H) - MARGIN);
    const end = Math.min(n, start + inView + 2 * MARGIN);
    if (!force && start === win.start && end === win.end && n === win.n) return;
    win = { start, end, n };
    topPad.firstChild.firstChild.style.height = `${start * ROW_H}px`;
    botPad.firstChild.firstChild.style.height = `${(n - end) * ROW_H}px`;
    // the row with the keyboard focus keeps it across a redraw
    const had = rowsBody.contains(document.activeElement) ? document.activeElement.dataset.row : null;
    rowsBody.replaceChildren(...state.rows.slice(start, end).map((r, k) => rowEl(r, start + k)));
    if (had != null) { const el = rowsBody.querySelector(`tr[data-row="${had}"]`); if (el) el.focus({ preventScroll: true }); }
    info.textContent = `${n} of ${state.count == null ? '?' : state.count + (state.countTruncated ? '+' : '')} rows`
      + (state.next ? ' (scroll for more)' : '');
  }

  async function more() {
    if (loadingMore || !state.next || state.rows.length >= MAX_ROWS) return;
    loadingMore = true;
    try {
      const r = await request('GET', `${base}.json?${query(state.next)}`, { note: 'next keyset page (Datasette)' });
      state.rows.push(...(r.rows || []));
      state.next = r.next;
      drawWindow(true);
    } catch (e) { fail(e); }
    finally { loadingMore = false; }
  }

  grid.addEventListener('scroll', () => {
    drawWindow(false);
    if (grid.scrollTop + grid.clientHeight >= grid.scrollHeight - MARGIN * ROW_H) more();
  });

  function render(r) {
    chips.replaceChildren(...state.filters.map((f, i) => h('span', { class: 'chip' }, `${f[0]} ${f[1]} ${f[2]}`,
      h('button', { type: 'button', title: 'Remove', onclick: () => { state.filters.splice(i, 1); reset(); } }, '×'))));
    const th = (c) => h('th', { class: 'sortable', onclick: () => {
      if (state.sort === c) { state.sort = ''; state.desc = c; } else if (state.desc === c) { state.desc = ''; state.sort = ''; }
      else { state.sort = c; state.desc = ''; }
      reset();
    } }, c, state.sort === c ? ' ▲' : state.desc === c ? ' ▼' : '');
    head = h('thead', {}, h('tr', {}, state.columns.map(th)));
    grid.replaceChildren(h('table', { class: 'grid' }, head, topPad, rowsBody, botPad));
    drawWindow(true);
    if (r.facet_results && state.facet) {
      const f = (r.facet_results.results || r.facet_results)[state.facet];
      facets.replaceChildren(...(f ? f.results : []).map((x) => h('span', { class: 'chip' },
        h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); state.filters.push([state.facet, 'exact', String(x.value)]); reset(); } }, String(x.label ?? x.value)),
        ` ${x.count}`)));
    } else facets.replaceChildren();
  }

  function reset() { load(null); }

  function pkPath(row) {
    if (!state.pks.length) return tilde(row.rowid);
    return state.pks.map((k) => tilde(row[k] && typeof row[k] === 'object' ? row[k].value : row[k])).join(',');
  }

  // A row's form: shows the change before it is sent.
  function edit(i) {
    const row = i == null ? null : state.rows[i];
    const inputs = {};
    const preview = h('pre', { class: 'diff', id: 'edit-preview' });
    const fields = state.columns.map((c) => {
      const v = row ? (row[c] && typeof row[c] === 'object' && 'value' in row[c] ? row[c].value : row[c]) : '';
      inputs[c] = h('input', { name: c, value: v == null ? '' : String(v), 'data-null': v == null ? '1' : null,
                               oninput: () => { delete inputs[c].dataset.null; showPreview(); } });
      return [h('label', {}, c), inputs[c]];
    });
    const typed = (c) => {
      const s = inputs[c].value;
      if (inputs[c].dataset.null) return null;
      if (s !== '' && !isNaN(Number(s)) && row && typeof row[c] === 'number') return Number(s);
      if (s !== '' && !row && /^-?\d+(\.\d+)?$/.test(s)) return Number(s);
      return s;
    };
    const changes = () => {
      const ch = {};
      for (const c of state.columns) {
        const old = row ? row[c] : undefined, nv = typed(c);
        if (row ? String(old ?? '') !== String(nv ?? '') || (old === null) !== (nv === null) : inputs[c].value !== '') ch[c] = nv;
      }
      return ch;
    };
    function showPreview() {
      const ch = changes();
      preview.replaceChildren(...Object.entries(ch).map(([c, v]) => h('div', {}, `${c}: `,
        row ? h('del', {}, JSON.stringify(row[c])) : '', row ? ' → ' : '', h('ins', {}, JSON.stringify(v)))));
      if (!Object.keys(ch).length) preview.textContent = 'No change yet.';
    }
    const save = async () => {
      const ch = changes();
      try {
        if (row) await request('POST', `${base}/${pkPath(row)}/-/update`, { json: { update: ch }, note: 'update a row (Datasette write API)' });
        else await request('POST', `${base}/-/insert`, { json: { row: ch }, note: 'insert a row (Datasette write API)' });
        toast(row ? 'Row updated' : 'Row inserted');
        editor.replaceChildren();
        load(null);
      } catch (e) { fail(e); }
    };
    const del = async () => {
      if (!confirm('Delete this row?')) return;
      try {
        await request('POST', `${base}/${pkPath(row)}/-/delete`, { note: 'delete a row (Datasette write API)' });
        toast('Row deleted');
        editor.replaceChildren();
        load(null);
      } catch (e) { fail(e); }
    };
    const refs = row ? fks.incoming.map((f) => {
      // Datasette's incoming entry: column is this table's, other_column the referring table's
      const v = row[f.column] && typeof row[f.column] === 'object' ? row[f.column].value : row[f.column];
      return v == null ? null : h('li', {}, h('a', { href: linkTo(f.other_table, f.other_column, v), class: 'fk-in' }, `${f.other_table} where ${f.other_column} = ${v}`));
    }).filter(Boolean) : [];
    editor.replaceChildren(h('div', { class: 'card', id: 'row-form' },
      h('h2', {}, row ? 'Edit row' : 'Insert row'), h('div', { class: 'kv' }, fields),
      refs.length ? [h('p', { class: 'muted' }, 'Rows that refer to this one:'), h('ul', { id: 'incoming' }, refs)] : '',
      h('p', { class: 'muted' }, 'Change:'), preview,
      h('div', { class: 'row' }, h('button', { class: 'primary', type: 'button', id: 'save-row', onclick: save }, row ? 'Save' : 'Insert'),
        row ? h('button', { type: 'button', id: 'delete-row', onclick: del }, 'Delete row') : '',
        h('button', { type: 'button', onclick: () => editor.replaceChildren() }, 'Cancel'))));
    showPreview();
    editor.scrollIntoView({ block: 'nearest' });
  }

  main().replaceChildren(
    h('p', {}, h('a', { href: '#/' }, 'Databases'), ' / ', h('a', { href: `#/db/${encodeURIComponent(db)}` }, db), ' / ', table),
    h('h1', {}, table),
    h('form', { class: 'row', id: 'filter-form', onsubmit: (ev) => {
      ev.preventDefault();
      state.filters.push([colSel.value, opSel.value, val.value]);
      val.value = '';
      reset();
    } }, colSel, opSel, val, h('button', { type: 'submit' }, 'Add filter'), facetSel,
      h('button', { type: 'button', id: 'insert-row', onclick: () => edit(null) }, 'Insert row')),
    chips, facets,
    h('div', { class: 'row' }, info),
    grid, editor, columnsEditor(db, table, () => { colSel.replaceChildren(); reset(); }));
  load(null);
}

// ---- live: subscriptions and reducers ---------------------------------------------

async function viewLive(params) {
  let ws = null, wsDb = '', callId = 1, hasModule = false;
  const dbIn = h('input', { id: 'live-db', value: params.get('db') || '', placeholder: 'database' });
  const qIn = h('input', { id: 'live-query', size: 50, value: params.get('q') || '', placeholder: 'SELECT * FROM table' });
  const log = h('div', { class: 'log', id: 'live-log' });
  const status = h('span', { class: 'muted', id: 'live-status' }, 'not subscribed');
  const line = (cls, text) => { log.prepend(h('div', { class: cls }, `${new Date().toLocaleTimeString()}  ${text}`)); };
  const rowsOf = (list) => (list || []).map((r) => (typeof r === 'string' ? r : JSON.stringify(r)));
  const tablesOf = (msg) => (msg && msg.tables) || [];

  function onMessage(ev) {
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    if (m.IdentityToken) line('', 'connected');
    else if (m.InitialSubscription) {
      const ts = tablesOf(m.InitialSubscription.database_update);
      status.textContent = 'subscribed';
      for (const t of ts) for (const u of t.updates || []) line('', `${t.table_name}: ${rowsOf(u.inserts).length} rows now`);
      if (!ts.length) line('', 'subscribed (no rows yet)');
    } else if (m.TransactionUpdate) {
      const tu = m.TransactionUpdate;
      const st = tu.status || {};
      if (!st.Committed) { line('del', 'a call failed: ' + JSON.stringify(st.Failed || st)); return; }
      const red = tu.reducer_call && tu.reducer_call.reducer_name;
      // atrium_door: the dialect that wrote it (Atrium's ?atrium_doors=1 extension)
      const names = { typedb: 'TypeDB', spacetimedb: 'SpacetimeDB', datasette: 'Datasette', airsequel: 'Airsequel' };
      const door = red ? `reducer ${red}` : `${names[tu.atrium_door] || 'another'} door`;
      for (const t of tablesOf(st.Committed)) for (const u of t.updates || []) {
        for (const r of rowsOf(u.deletes)) line('del', `− ${t.table_name} ${r}   via ${door}`);
        for (const r of rowsOf(u.inserts)) line('ins', `+ ${t.table_name} ${r}   via ${door}`);
      }
    } else if (m.SubscriptionError) { status.textContent = 'error'; line('del', m.SubscriptionError.error || 'subscription error'); }
  }

  const subscribe = () => {
    if (ws) ws.close();
    log.replaceChildren();
    const url = new URL(`/v1/database/${encodeURIComponent(dbIn.value)}/subscribe`, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // browsers cannot set headers on a WebSocket: the token rides in the query, as SpacetimeDB's web SDK does
    if (session.token) url.searchParams.set('token', session.token);
    url.searchParams.set('atrium_doors', '1');
    ws = new WebSocket(url, 'v1.json.spacetimedb');
    wsDb = dbIn.value;
    status.textContent = 'connecting';
    ws.onopen = () => ws.send(JSON.stringify({ Subscribe: { query_strings: [qIn.value], request_id: 1 } }));
    ws.onmessage = onMessage;
    ws.onclose = () => { status.textContent = 'closed'; };
    ws.onerror = () => { status.textContent = 'connection failed'; };
  };

  const reducers = h('div', { id: 'reducers' });
  const logs = h('pre', { id: 'module-logs' });
  async function loadReducers() {
    reducers.replaceChildren();
    hasModule = false;
    logs.textContent = '';
    if (!dbIn.value) return;
    try {
      const s = await request('GET', `/v1/database/${encodeURIComponent(dbIn.value)}/schema?version=9`, { note: 'module schema (SpacetimeDB)' });
      hasModule = true;
      loadLogs();
      const list = (s.reducers || []).filter((r) => !['init', 'client_connected', 'client_disconnected'].includes(r.name) && !r.lifecycle?.some);
      if (!list.length) { reducers.append(h('p', { class: 'muted' }, 'This database has no module reducers.')); return; }
      for (const r of list) {
        const params = (r.params && r.params.elements) || [];
        const ins = params.map((p, i) => h('input', { placeholder: (p.name && (p.name.some || p.name)) || `arg${i}`,
                                                       'data-type': Object.keys(p.algebraic_type || {})[0] || '' }));
        const call = async () => {
          const args = ins.map((x) => {
            const t = x.dataset.type;
            if (/^(I|U)\d+$|^F\d+$/.test(t)) return Number(x.value);
            if (t === 'Bool') return x.value === 'true';
            if (t === 'String') return x.value;
            try { return JSON.parse(x.value); } catch { return x.value; }
          });
          if (ws && ws.readyState === WebSocket.OPEN && wsDb === dbIn.value) {
            // on the subscription's own socket, as an SDK calls: the update names the reducer and its caller
            ws.send(JSON.stringify({ CallReducer: { reducer: r.name, args: JSON.stringify(args), request_id: ++callId, flags: 0 } }));
            return;
          }
          try {
            await request('POST', `/v1/database/${encodeURIComponent(dbIn.value)}/call/${encodeURIComponent(r.name)}`,
                          { json: args, note: `call reducer ${r.name} (SpacetimeDB)` });
            toast(`Called ${r.name}`);
          } catch (e) { fail(e); }
        };
        reducers.append(h('form', { class: 'row reducer', 'data-reducer': r.name, onsubmit: (ev) => { ev.preventDefault(); call(); } },
          h('strong', {}, r.name), ins, h('button', { type: 'submit' }, 'Call')));
      }
    } catch (e) { reducers.append(h('p', { class: 'muted' }, e.status === 404 ? 'No module published here.' : e.message)); }
  }
  async function loadLogs() {
    try { logs.textContent = await request('GET', `/v1/database/${encodeURIComponent(dbIn.value)}/logs?num_lines=200`, { note: 'module logs' }); }
    catch (e) { logs.textContent = e.message; }
  }
  const logTimer = setInterval(() => { if (hasModule && document.visibilityState === 'visible') loadLogs(); }, 3000);
  stopView = () => { if (ws) ws.close(); clearInterval(logTimer); };

  main().replaceChildren(h('h1', {}, 'Live'),
    h('p', { class: 'muted' }, 'A SpacetimeDB subscription: every door\'s writes to these rows arrive here.'),
    h('form', { class: 'row', id: 'live-form', onsubmit: (ev) => { ev.preventDefault(); subscribe(); loadReducers(); } },
      dbIn, qIn, h('button', { class: 'primary', type: 'submit' }, 'Subscribe'), status),
    log, h('h2', {}, 'Reducers'), reducers, h('h2', {}, 'Module log'), logs);
  if (dbIn.value && qIn.value) { subscribe(); loadReducers(); }
}

// ---- operations -----------------------------------------------------------------

function viewOps() {
  const body = h('div', { id: 'ops' });
  async function load() {
    try {
      const ops = (await request('GET', '/-/operations', { note: 'operations' })).operations || [];
      body.replaceChildren(ops.length ? h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Kind', 'Database', 'State', 'Phase', 'Progress', 'ETA', 'Elapsed', ''].map((c) => h('th', {}, c)))),
        h('tbody', {}, ops.map((o) => h('tr', {},
          h('td', {}, o.kind), h('td', {}, o.database || ''), h('td', { class: o.state === 'failed' ? 'bad' : '' }, o.state),
          h('td', {}, o.phase || ''),
          h('td', {}, h('div', { class: 'progress' }, h('div', { style: { width: `${Math.round(100 * (o.fraction || 0))}%` } })),
            o.total ? `${o.done}/${o.total} ${o.unit || ''}` : ''),
          h('td', {}, o.eta_ms != null ? (o.eta_ms / 1000).toFixed(1) + ' s' : ''),
          h('td', {}, o.elapsed_ms != null ? (o.elapsed_ms / 1000).toFixed(1) + ' s' : ''),
          h('td', {}, o.cancellable && o.state === 'running' ? h('button', { type: 'button', onclick: async () => {
            try { await request('DELETE', `/-/operations/${encodeURIComponent(o.id)}`, { note: 'cancel an operation' }); load(); }
            catch (e) { fail(e); }
          } }, 'Cancel') : ''))))) : h('p', { class: 'muted' }, 'No long operations right now.'));
    } catch (e) { body.replaceChildren(h('p', { class: 'bad' }, e.message)); }
  }
  const t = setInterval(load, 1000);
  stopView = () => clearInterval(t);
  main().replaceChildren(h('h1', {}, 'Operations'), h('p', { class: 'muted' }, 'Uploads, imports, copies, downloads and VACUUM, with their phase.'), body);
  load();
}

// ---- metrics ---------------------------------------------------------------------

function parseMetrics(text) {
  const fam = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = m[1], v = Number(m[3]);
    if (name.endsWith('_bucket')) continue;
    fam[name] = (fam[name] || 0) + v;
  }
  return fam;
}

function viewMetrics() {
  const table = h('div', { id: 'metrics' });
  const canvas = h('canvas', { width: 600, height: 120, id: 'rate-chart' });
  const points = [];
  let last = null;
  async function load() {
    try {
      const text = await request('GET', '/metrics', { note: 'metrics (Prometheus text)' });
      const f = parseMetrics(text);
      const now = performance.now();
      const reqs = f.atrium_http_requests_total || 0;
      if (last) points.push((reqs - last.reqs) / ((now - last.t) / 1000));
      last = { t: now, reqs };
      if (points.length > 60) points.shift();
      draw();
      const keys = Object.keys(f).filter((k) => k.startsWith('atrium_') || k.startsWith('process_')).sort();
      table.replaceChildren(h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, h('th', {}, 'Series (summed)'), h('th', {}, 'Value'))),
        h('tbody', {}, keys.map((k) => h('tr', {}, h('td', {}, k), h('td', { class: 'num' }, Number.isInteger(f[k]) ? f[k] : f[k].toFixed(4)))))));
    } catch (e) { table.replaceChildren(h('p', { class: 'bad' }, e.status === 403 || e.status === 401 ? 'Metrics are for administrators.' : e.message)); }
  }
  function draw() {
    const g = canvas.getContext('2d');
    const w = canvas.width, ht = canvas.height;
    g.clearRect(0, 0, w, ht);
    const max = Math.max(1, ...points);
    g.strokeStyle = getComputedStyle(document.documentElement).getPropertyValue('--accent') || '#2456d6';
    g.lineWidth = 2;
    g.beginPath();
    points.forEach((p, i) => { const x = (i / 59) * w, y = ht - 4 - (p / max) * (ht - 8); if (i) g.lineTo(x, y); else g.moveTo(x, y); });
    g.stroke();
    g.fillStyle = getComputedStyle(document.documentElement).getPropertyValue('--muted') || '#667';
    g.fillText(`${(points[points.length - 1] || 0).toFixed(1)} req/s (max ${max.toFixed(1)})`, 6, 12);
  }
  const t = setInterval(load, 2000);
  stopView = () => clearInterval(t);
  main().replaceChildren(h('h1', {}, 'Metrics'), h('p', { class: 'muted' }, 'HTTP requests per second, from /metrics every 2 s'), canvas, table);
  load();
}

// ---- tokens -----------------------------------------------------------------------

function viewTokens() {
  const out = h('pre', { id: 'token-out' });
  const db = h('input', { placeholder: 'database (empty: every database)' });
  const acts = ['view-table', 'execute-sql', 'insert-row', 'update-row', 'delete-row', 'create-table', 'drop-table'];
  const boxes = acts.map((a) => h('label', {}, h('input', { type: 'checkbox', value: a, checked: a === 'view-table' || a === 'execute-sql' }), ' ' + a));
  const ttl = h('input', { type: 'number', value: 3600, min: 1 });
  const make = async (ev) => {
    ev.preventDefault();
    const chosen = boxes.map((b) => b.firstChild).filter((x) => x.checked).map((x) => x.value);
    const body = { expire_after: Number(ttl.value) };
    if (db.value) body.restrict_database = { [db.value]: chosen };
    else body.restrict_all = chosen;
    try {
      // a derived token never exceeds the signed-in one: the server narrows it
      const r = await request('POST', '/-/create-token', { json: body, note: 'create a scoped token (Datasette)' });
      out.textContent = JSON.stringify(r, null, 2);
    } catch (e) { out.textContent = e.message; }
  };
  const actAs = h('input', { placeholder: 'a token to act as', size: 50 });
  const apiSection = h('section', { id: 'api-tokens' });
  main().replaceChildren(h('h1', {}, 'Tokens'), apiSection,
    h('h2', {}, 'A scoped token for now'),
    h('p', { class: 'muted' }, 'A token limited to some actions, derived from the one you signed in with.'),
    h('form', { class: 'row', id: 'token-form', onsubmit: make }, db, ...boxes, h('label', {}, 'expires after (s)'), ttl,
      h('button', { type: 'submit' }, 'Create token')), out,
    h('h2', {}, 'Act as a token'),
    h('p', { class: 'muted' }, 'Browse with another token to check what it can see. Sign out to come back.'),
    h('form', { class: 'row', onsubmit: (ev) => { ev.preventDefault(); session.token = actAs.value.trim(); session.user = 'acting as a token'; header(); location.hash = '#/'; } },
      actAs, h('button', { type: 'submit' }, 'Act as')));
  apiTokens(apiSection);
}

// Airsequel's API tokens: long-lived, with read/write/writeonly/insertonly per
// database, listed (secret masked) and revoked by the Admins of their team.
async function apiTokens(section) {
  const out = h('pre', { id: 'api-token-out', hidden: true });
  const list = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const team = h('select', { id: 'api-token-team' });
  const name = h('input', { id: 'api-token-name', placeholder: 'name', required: true });
  const dbSel = h('select', { id: 'api-token-db' });
  const perm = h('select', { id: 'api-token-perm' }, ['read', 'write', 'writeonly', 'insertonly'].map((p) => h('option', { value: p }, p)));
  const days = h('input', { type: 'number', min: 1, placeholder: 'days (empty: never expires)', title: 'expires after this many days' });
  section.replaceChildren(h('h2', {}, 'API tokens'),
    h('p', { class: 'muted' }, 'Long-lived tokens for applications, one permission per database; every door honours them.'),
    list,
    h('form', { class: 'row', id: 'api-token-form', onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { team_name: team.value, name: name.value, permissions: [{ db_id: dbSel.value, name: perm.value }] };
      if (days.value) body.expiration_utc = new Date(Date.now() + days.value * 86400e3).toISOString();
      try {
        const r = await request('POST', '/api/tokens', { json: body, note: 'create an API token (Airsequel)' });
        out.hidden = false;
        out.textContent = `${r.body}\n\nShown once: copy it now.`;
        name.value = '';
        load();
      } catch (e) { fail(e); }
    } }, team, name, dbSel, perm, days, h('button', { type: 'submit' }, 'Create API token')), out);
  if (!session.token || !session.user || session.user === 'acting as a token') {
    list.replaceChildren(h('p', { class: 'muted' }, 'Sign in as a user to see the API tokens of your teams.'));
    return;
  }
  let teams = [];
  try {
    const [me, dbs] = await Promise.all([
      request('GET', `/api/users/${encodeURIComponent(session.user)}`, { note: 'your teams (Airsequel)' }),
      request('GET', '/api/dbs', { note: 'databases (Airsequel)' })]);
    teams = (me.teams || []).map((t) => t.name);
    team.replaceChildren(...teams.map((t) => h('option', { value: t }, t)));
    dbSel.replaceChildren(...(dbs.databases || []).map((d) => h('option', { value: d.id }, d.name)));
  } catch (e) { list.replaceChildren(h('p', { class: 'bad' }, e.message)); return; }
  async function load() {
    const rows = [];
    for (const t of teams) {
      // only a team's Admins see its tokens: the others answer 403, and are skipped
      const r = await request('GET', `/api/teams/${encodeURIComponent(t)}/tokens`, { note: 'list API tokens (Airsequel)' }).catch(() => null);
      for (const k of (r && r.tokens) || []) rows.push(h('tr', { 'data-token': k.id },
        h('td', {}, t), h('td', {}, k.name), h('td', {}, h('code', {}, k.body)),
        h('td', {}, k.permissions.map((p) => `${p.db_name || p.db_id}: ${p.name}`).join(', ')),
        h('td', {}, k.created_utc.replace('T', ' ').slice(0, 19)),
        h('td', {}, k.expiration_utc ? k.expiration_utc.replace('T', ' ').slice(0, 19) : 'never'),
        h('td', {}, h('button', { type: 'button', class: 'revoke', onclick: async () => {
          if (!confirm(`Revoke the token ${k.name}? Applications using it stop at once.`)) return;
          try { await request('DELETE', `/api/tokens/${k.id}`, { note: 'revoke an API token (Airsequel)' }); toast(`Revoked ${k.name}`); load(); }
          catch (e) { fail(e); }
        } }, 'Revoke'))));
    }
    list.replaceChildren(rows.length ? h('table', { class: 'grid', id: 'api-token-list' },
      h('thead', {}, h('tr', {}, ['Team', 'Name', 'Token', 'Permissions', 'Created', 'Expires', ''].map((c) => h('th', {}, c)))),
      h('tbody', {}, rows)) : h('p', { class: 'muted', id: 'api-token-list' }, 'No API tokens yet.'));
  }
  load();
}

// ---- the API panel and routing -------------------------------------------------------

function renderApiPanel() {
  const body = $('#api-body');
  body.replaceChildren(...calls.slice(0, 8).map((c) => h('div', { class: 'card' },
    h('div', {}, h('strong', {}, `${c.method} ${c.path}`), ` → ${c.status}`, h('div', { class: 'muted' }, c.note)),
    ...equivalents(c).map(([door, text]) => [h('div', { class: 'muted' }, door), h('pre', {}, text)]))));
}

function route() {
  stopView();
  stopView = () => {};
  const [path, qs] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(qs || '');
  const parts = (path || '/').split('/').filter(Boolean).map(decodeURIComponent);
  document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('on',
    (parts[0] || 'dbs') === a.dataset.nav || (parts[0] === 'db' && a.dataset.nav === 'dbs')));
  if (parts[0] === 'db' && parts.length === 2) return viewDatabase(parts[1]);
  if (parts[0] === 'db' && parts.length >= 3) return viewTable(parts[1], parts.slice(2).join('/'), params);
  if (parts[0] === 'live') return viewLive(params);
  if (parts[0] === 'ops') return viewOps();
  if (parts[0] === 'metrics') return viewMetrics();
  if (parts[0] === 'tokens') return viewTokens();
  if (parts[0] === 'signin') return showSignin();
  return viewDatabases();
}

window.addEventListener('hashchange', route);
window.addEventListener('atrium-signin', () => { if (location.hash !== '#/signin') showSignin('Sign in to see this.'); });
$('#signout').addEventListener('click', () => { session.token = ''; session.user = ''; header(); showSignin(); });
$('#show-api').addEventListener('click', () => { $('#api-panel').hidden = !$('#api-panel').hidden; renderApiPanel(); });
$('#api-close').addEventListener('click', () => { $('#api-panel').hidden = true; });
onCall(() => { if (!$('#api-panel').hidden) renderApiPanel(); });
header();
if (!session.token && !sessionStorage.getItem('atrium.anonymous')) showSignin();
else route();
