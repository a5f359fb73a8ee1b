"""The Datasette fixture database the table, row and write tests share:
integer, text, composite and rowid keys, a view, a labelled foreign key, an
FTS5 index, a JSON-array column, dates, blobs, NULLs and non-ASCII text."""
import sqlite3

SCHEMA = """
CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO authors VALUES (1, 'Ursula K. Le Guin'), (2, 'Frank Herbert'), (3, 'André Gide');
CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER REFERENCES authors(id),
                    price REAL, year INTEGER, tags TEXT, published TEXT, cover BLOB);
INSERT INTO books VALUES
 (1, 'Dune', 2, 9.5, 1965, '["scifi", "classic"]', '1965-08-01 10:00:00', NULL),
 (2, 'The Dispossessed', 1, 12.5, 1974, '["scifi"]', '1974-05-01', x'00ff'),
 (3, 'Les Faux-monnayeurs', 3, NULL, 1925, '[]', '1925-01-01', NULL),
 (4, 'Earthsea', 1, 100.0, 1968, '["fantasy"]', NULL, NULL),
 (5, 'Unknown', NULL, 7, NULL, NULL, '', NULL),
 (6, 'Ghost', 9, 1e308 * 10, 2001, '["x"]', NULL, NULL);
CREATE TABLE countries (code TEXT PRIMARY KEY, name TEXT);
INSERT INTO countries VALUES ('fr', 'France'), ('jp', '日本'), ('a.b', 'Dotted');
CREATE TABLE editions (work TEXT, code TEXT, note TEXT, PRIMARY KEY (work, code));
INSERT INTO editions VALUES ('a/b', 'c,d', 'slashy'), ('x y', '1', 'spacey'), ('x y', '2', NULL);
CREATE TABLE logs (msg TEXT, level INTEGER);
INSERT INTO logs VALUES ('boot', 1), ('run', 2), (NULL, 3);
CREATE VIEW cheap AS SELECT id, title, price FROM books WHERE price < 50 ORDER BY id;
CREATE VIRTUAL TABLE books_fts USING fts5(title, content="books", content_rowid="id");
INSERT INTO books_fts(rowid, title) SELECT id, title FROM books;
CREATE TABLE big (id INTEGER PRIMARY KEY, age INTEGER, pad TEXT);
"""


def build(path, big_rows=0, pad=0):
    c = sqlite3.connect(path)
    c.executescript(SCHEMA)
    if big_rows:
        c.execute("INSERT INTO big WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT ?) "
                  "SELECT x, x % 100, printf('%.*c', ?, 'p') FROM n", (big_rows, pad))
    c.commit()
    c.close()
