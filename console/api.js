// api.js: every request the console makes, through the server's public
// routes only, on this origin. Each call is kept (last 20) for "Show me
// the API call".
const KEY = 'atrium.token';

export const session = {
  get token() { return localStorage.getItem(KEY) || ''; },
  set token(t) { if (t) localStorage.setItem(KEY, t); else localStorage.removeItem(KEY); },
  get user() { return localStorage.getItem(KEY + '.user') || ''; },
  set user(u) { if (u) localStorage.setItem(KEY + '.user', u); else localStorage.removeItem(KEY + '.user'); },
};

export const calls = [];
const listeners = new Set();
export function onCall(fn) { listeners.add(fn); }

function remember(entry) {
  calls.unshift(entry);
  if (calls.length > 20) calls.pop();
  for (const fn of listeners) fn(entry);
}

export class ApiError extends Error {
  constructor(status, message, data) { super(message); this.status = status; this.data = data; }
}

// The message a dialect put in its error body, whatever its shape.
function messageOf(data, status) {
  if (data == null) return `HTTP ${status}`;
  if (typeof data === 'string') return data.trim() || `HTTP ${status}`;
  if (Array.isArray(data.errors) && data.errors.length) {
    const e = data.errors[0];
    return typeof e === 'string' ? e : (e.message || JSON.stringify(e));
  }
  if (typeof data.error === 'string') return data.error;
  if (data.error && data.error.message) return data.error.message;
  if (typeof data.message === 'string') return data.message;
  return `HTTP ${status}`;
}

// request('GET', '/db/t.json') → parsed JSON (or text). opts: json (a body
// sent as JSON), text (a raw text body), form (FormData), raw (return the
// Response's Blob), note (what the console was doing, for the API panel).
export async function request(method, path, opts = {}) {
  const headers = {};
  if (session.token) headers.Authorization = 'Bearer ' + session.token;
  let body;
  if (opts.json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(opts.json); }
  else if (opts.text !== undefined) { headers['Content-Type'] = 'text/plain'; body = opts.text; }
  else if (opts.form) body = opts.form;
  const entry = { method, path, body: typeof body === 'string' ? body : (opts.form ? '(multipart form)' : null),
                  contentType: headers['Content-Type'] || null, note: opts.note || '', sql: opts.sql || null,
                  db: opts.db || null, status: 0, at: new Date() };
  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    entry.status = 'network error';
    remember(entry);
    throw new ApiError(0, 'The server did not answer: ' + e.message);
  }
  entry.status = res.status;
  remember(entry);
  if (opts.raw && res.ok) return res.blob();
  const type = res.headers.get('Content-Type') || '';
  const textBody = await res.text();
  let data = textBody;
  if (type.includes('json') && textBody) {
    try { data = JSON.parse(textBody); } catch { /* keep the text */ }
  }
  if (!res.ok || (data && data.ok === false)) {
    if (res.status === 401 && opts.signinOn401 !== false) window.dispatchEvent(new CustomEvent('atrium-signin'));
    throw new ApiError(res.status, messageOf(data, res.status), data);
  }
  return data;
}

// Uploads with progress (fetch cannot report upload progress): onProgress
// gets (sent, total).
export function upload(path, form, onProgress, note) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    if (session.token) xhr.setRequestHeader('Authorization', 'Bearer ' + session.token);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    xhr.onload = () => {
      remember({ method: 'POST', path, body: '(multipart form)', contentType: 'multipart/form-data', note: note || '',
                 status: xhr.status, at: new Date() });
      let data = xhr.responseText;
      try { data = JSON.parse(data); } catch { /* text */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new ApiError(xhr.status, messageOf(data, xhr.status), data));
    };
    xhr.onerror = () => reject(new ApiError(0, 'The upload failed'));
    xhr.send(form);
  });
}

// The same read through each door, and as curl, for the API panel.
export function equivalents(entry) {
  const origin = location.origin;
  const auth = session.token ? ` \\\n  -H 'Authorization: Bearer $TOKEN'` : '';
  const q = (s) => "'" + String(s).replace(/'/g, "'\\''") + "'";
  const out = [];
  let curl = `curl -X ${entry.method} ${q(origin + entry.path)}${auth}`;
  if (entry.contentType && entry.body && entry.body !== '(multipart form)')
    curl += ` \\\n  -H 'Content-Type: ${entry.contentType}' \\\n  --data ${q(entry.body)}`;
  out.push(['curl', curl]);
  if (entry.sql && entry.db) {
    const db = entry.db, sql = entry.sql;
    out.push(['Datasette', `GET ${origin}/${encodeURIComponent(db)}/-/query.json?sql=${encodeURIComponent(sql)}`]);
    out.push(['Airsequel', `POST ${origin}/dbs/${db}/sql\n${JSON.stringify({ query: sql })}`]);
    out.push(['TypeDB-style', `POST ${origin}/v1/query\n${JSON.stringify({ databaseName: db, transactionType: 'read', query: sql })}`]);
    out.push(['SpacetimeDB', `POST ${origin}/v1/database/${db}/sql\n${sql}`]);
  }
  return out;
}
