// The console's SQL editor: CodeMirror 6 with SQLite highlighting and
// completion from the database's tables and columns. Mounted in a shadow
// root so CodeMirror's styles go in as constructed style sheets, which the
// page's Content-Security-Policy (style-src 'self') allows, where injected
// <style> elements would be refused.
import { EditorView, minimalSetup } from 'codemirror';
import { sql, SQLite } from '@codemirror/lang-sql';
import { Compartment, Prec } from '@codemirror/state';
import { keymap, lineNumbers, highlightActiveLine } from '@codemirror/view';
import { autocompletion, closeBrackets, completionKeymap, closeBracketsKeymap } from '@codemirror/autocomplete';
import { bracketMatching } from '@codemirror/language';

const dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
const theme = EditorView.theme({
  '&': { fontSize: '13px', border: '1px solid var(--line, #d9dee7)', borderRadius: '4px',
         backgroundColor: dark ? '#14171d' : '#ffffff', color: dark ? '#e4e7ee' : '#1d2330' },
  '.cm-content': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, monospace', minHeight: '7em' },
  '.cm-gutters': { backgroundColor: dark ? '#1c2029' : '#f4f6fa', color: dark ? '#98a2b3' : '#667085', border: 'none' },
  '&.cm-focused': { outline: '2px solid ' + (dark ? '#6b93ff' : '#2456d6') },
}, { dark });

// host: an element to hold the editor. schema: {table: [columns]}. onRun:
// called on Ctrl/Cmd+Enter. Returns {value (get/set), setSchema(schema), focus()}.
export function sqlEditor(host, { doc = '', schema = {}, onRun = () => {} } = {}) {
  const shadow = host.shadowRoot || host.attachShadow({ mode: 'open' });
  const lang = new Compartment();
  const view = new EditorView({
    doc,
    root: shadow,
    parent: shadow,
    extensions: [
      minimalSetup,
      lineNumbers(),
      highlightActiveLine(),
      bracketMatching(),
      closeBrackets(),
      autocompletion(),
      keymap.of([...closeBracketsKeymap, ...completionKeymap]),
      theme,
      lang.of(sql({ dialect: SQLite, schema, upperCaseKeywords: false })),
      Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => { onRun(); return true; } }])),
      EditorView.lineWrapping,
    ],
  });
  return {
    get value() { return view.state.doc.toString(); },
    set value(v) { view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: v } }); },
    setSchema(s) { view.dispatch({ effects: lang.reconfigure(sql({ dialect: SQLite, schema: s, upperCaseKeywords: false })) }); },
    focus() { view.focus(); },
    view,
  };
}

// The GraphQL pane: highlighting, and completion, validation and hover
// from the schema (graphql-js's buildClientSchema of the endpoint's
// introspection answer).
import { graphql as graphqlLang, updateSchema } from 'cm6-graphql';
import { buildClientSchema, getIntrospectionQuery } from 'graphql';
export { getIntrospectionQuery };
import { lintGutter } from '@codemirror/lint';

export function graphqlEditor(host, { doc = '', onRun = () => {} } = {}) {
  const shadow = host.shadowRoot || host.attachShadow({ mode: 'open' });
  const view = new EditorView({
    doc,
    root: shadow,
    parent: shadow,
    extensions: [
      minimalSetup, lineNumbers(), bracketMatching(), closeBrackets(), autocompletion(), lintGutter(),
      keymap.of([...closeBracketsKeymap, ...completionKeymap]),
      theme,
      graphqlLang(),
      Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => { onRun(); return true; } }])),
      EditorView.lineWrapping,
    ],
  });
  return {
    get value() { return view.state.doc.toString(); },
    set value(v) { view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: v } }); },
    // introspection: the `data` of an introspection query's answer
    setIntrospection(data) { updateSchema(view, buildClientSchema(data)); },
    focus() { view.focus(); },
    view,
  };
}
