/* airsequel/as_charts: a database's charts and dashboards (spec §2): JSON
 * objects the client defines, kept by core/docs. Listing needs R, the rest
 * W. POST answers the object with its new "ulid"; PATCH replaces the keys
 * it gives (one step in the catalog, so two PATCHes never lose each
 * other's keys); an unknown ulid is 404. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/airsequel/airsequel_internal.h"
#include "core/docs.h"

static void write_doc(jw_t *w, const doc_t *d) {
    json_t *o = json_loads(d->body, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    json_object_set_new(o, "ulid", json_string(d->ulid));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    jw_raw(w, text, strlen(text));
    free(text);
    json_decref(o);
}

static void do_list(as_job_t *j) {
    doc_t *docs;
    const char *kind = j->tag;
    size_t n = docs_list(j->engine->catalog, j->db, kind, &docs);
    jw_obj_begin(&j->w);
    jw_key(&j->w, strcmp(kind, "chart") == 0 ? "charts" : "dashboards");
    jw_arr_begin(&j->w);
    for (size_t i = 0; i < n; i++) write_doc(&j->w, &docs[i]);
    jw_arr_end(&j->w);
    jw_obj_end(&j->w);
    docs_free(docs, n);
}

/* The body without a client-sent "ulid" (the server names documents). */
static char *body_text(as_job_t *j) {
    json_object_del(j->body, "ulid");
    return json_dumps(j->body, JSON_COMPACT | JSON_SORT_KEYS);
}

static void do_add(as_job_t *j) {
    doc_t d = {.body = body_text(j)};
    err_t e;
    if (docs_add(j->engine->catalog, j->db, j->tag, d.body, d.ulid, &e) < 0) {
        if (e.kind == E_TOO_BIG) as_fail(j, 413, e.msg);
        else as_fail_err(j, &e);
    } else {
        write_doc(&j->w, &d);
    }
    free(d.body);
}

static char *merge(const char *old, void *ctx, err_t *e) {
    (void)e;
    as_job_t *j = ctx;
    json_t *o = json_loads(old, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    json_object_del(j->body, "ulid");
    json_object_update(o, j->body);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

static void do_patch(as_job_t *j) {
    err_t e;
    if (docs_update(j->engine->catalog, j->db, j->tag, j->arg[0], merge, j, &e) < 0) {
        if (e.kind == E_TOO_BIG) as_fail(j, 413, e.msg);
        else as_fail_err(j, &e);
    } else {
        jw_raw(&j->w, "{}", 2);
    }
}

static void do_delete(as_job_t *j) {
    err_t e;
    if (docs_delete(j->engine->catalog, j->db, j->tag, j->arg[0], &e) < 0) as_fail_err(j, &e);
    else jw_raw(&j->w, "{}", 2);
}

#define ROUTES(kind, word)                                                                                 \
    static void h_##word##_list(http_req_t *r) { airsequel_job_tagged(r, do_list, 1, AS_DB_READ, kind); }         \
    static void h_##word##_add(http_req_t *r) { airsequel_job_tagged(r, do_add, 1, AS_DB_WRITE | AS_BODY, kind); } \
    static void h_##word##_patch(http_req_t *r) {                                                                  \
        airsequel_job_tagged(r, do_patch, 2, AS_DB_WRITE | AS_BODY, kind);                                         \
    }                                                                                                              \
    static void h_##word##_delete(http_req_t *r) { airsequel_job_tagged(r, do_delete, 2, AS_DB_WRITE, kind); }

ROUTES("chart", chart)
ROUTES("dashboard", dashboard)

void airsequel_charts_register(router_t *rt, const dialect_t *d) {
    router_add(rt, d, M_GET, "/api/dbs/:db/charts", h_chart_list);
    router_add(rt, d, M_POST, "/api/dbs/:db/charts", h_chart_add);
    router_add(rt, d, M_PATCH, "/api/dbs/:db/charts/:chart", h_chart_patch);
    router_add(rt, d, M_DELETE, "/api/dbs/:db/charts/:chart", h_chart_delete);
    router_add(rt, d, M_GET, "/api/dbs/:db/dashboards", h_dashboard_list);
    router_add(rt, d, M_POST, "/api/dbs/:db/dashboards", h_dashboard_add);
    router_add(rt, d, M_PATCH, "/api/dbs/:db/dashboards/:dashboard", h_dashboard_patch);
    router_add(rt, d, M_DELETE, "/api/dbs/:db/dashboards/:dashboard", h_dashboard_delete);
}
