/* demo: a small, realistic database to try every dialect on: authors and
 * books with a foreign key, a view, and a full-text index. */
#include "core/demo.h"

#include <stdio.h>
#include <unistd.h>

#include "store/store.h"

static const char demo_sql[] =
    "CREATE TABLE authors(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, born INTEGER, country TEXT);"
    "CREATE TABLE books(id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER REFERENCES authors(id),"
    "  year INTEGER, price REAL, tags TEXT);"
    "CREATE INDEX books_by_author ON books(author_id);"
    "CREATE VIEW books_with_authors AS SELECT b.id, b.title, a.name AS author, b.year FROM books b"
    "  JOIN authors a ON a.id = b.author_id;"
    "CREATE VIRTUAL TABLE books_fts USING fts5(title, content='books', content_rowid='id');"
    "INSERT INTO authors VALUES (1,'Ursula K. Le Guin',1929,'US'),(2,'Italo Calvino',1923,'IT'),"
    "  (3,'Octavia E. Butler',1947,'US'),(4,'Stanisław Lem',1921,'PL'),(5,'Chimamanda Ngozi Adichie',1977,'NG');"
    "INSERT INTO books VALUES"
    "  (1,'The Left Hand of Darkness',1,1969,9.99,'[\"sf\",\"classic\"]'),"
    "  (2,'The Dispossessed',1,1974,10.5,'[\"sf\",\"utopia\"]'),"
    "  (3,'Invisible Cities',2,1972,12.0,'[\"fiction\"]'),"
    "  (4,'If on a winter''s night a traveler',2,1979,13.25,'[\"fiction\",\"meta\"]'),"
    "  (5,'Kindred',3,1979,11.0,'[\"sf\",\"history\"]'),"
    "  (6,'Parable of the Sower',3,1993,12.5,'[\"sf\"]'),"
    "  (7,'Solaris',4,1961,8.75,'[\"sf\",\"classic\"]'),"
    "  (8,'The Cyberiad',4,1965,NULL,'[\"sf\",\"humour\"]'),"
    "  (9,'Half of a Yellow Sun',5,2006,14.0,'[\"fiction\",\"history\"]'),"
    "  (10,'Americanah',5,2013,15.0,'[\"fiction\"]');"
    "INSERT INTO books_fts(books_fts) VALUES ('rebuild');";

int demo_create(const char *path, err_t *e) {
    if (access(path, F_OK) == 0) return err_set(e, E_EXISTS, "%s already exists", path);
    store_db_t *s;
    char msg[256];
    if (store_open(path, STORE_CREATE | STORE_WAL, &s, msg, sizeof msg) < 0)
        return err_set(e, E_INTERNAL, "%s: %s", path, msg);
    int rc = store_exec(s, "BEGIN;");
    if (rc == 0) rc = store_exec(s, demo_sql);
    if (rc == 0) rc = store_exec(s, "COMMIT;");
    if (rc < 0) err_set(e, E_INTERNAL, "%s: %s", path, store_errmsg(s));
    store_close(s);
    if (rc < 0) unlink(path);
    return rc < 0 ? -1 : 0;
}
