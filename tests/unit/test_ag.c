/* Unit tests for the Airsequel GraphQL door's schema and resolvers
 * (src/api/airsequel/ag_*.c) on an in-memory database: Double-X names,
 * and the access modes' schemas and answers (spec/airsequel.md §4.4,
 * §4.9) — including insertonly, which no HTTP token kind grants yet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/airsequel/ag.h"
#include "core/apitoken.h"
#include "core/auth.h"
#include "core/team.h"

static void encodes(const char *name, const char *want) {
    buf_t b = BUF_INIT;
    ag_encode_name(&b, name);
    if (strcmp(b.data ? b.data : "", want) != 0) fail_msg("%s: got %s, want %s", name, b.data, want);
    buf_free(&b);
}

static void double_x_names(void **st) {
    (void)st;
    encodes("name with-special$chars", "nameXX0withXXDspecialXX4chars");
    encodes("__index__", "XXRXXRindexXXRXXR");
    encodes("ü", "XXaaapm");
    encodes("a\tb", "aXXaaaajb");
    encodes("😅", "XXbpgaf");
    encodes("9lives", "XXZ9lives");
    encodes("aXXb", "aXXXXXXb");
    encodes("~", "XXW");
    encodes("plain_name", "plain_name");
}

static store_db_t *db;

static ag_schema_t *derive(ag_mode_t mode) {
    char err[256];
    const schema_t *s = schema_load(db, err, sizeof err);
    if (!s) fail_msg("%s", err);
    ag_schema_t *as = ag_schema_build(db, s, mode, "rid0000000000", err, sizeof err);
    if (!as) fail_msg("%s", err);
    return as;
}

static void run(ag_schema_t *as, const char *query, const char *want) {
    gql_doc_t *d;
    char msg[300];
    gql_loc_t loc;
    if (gql_parse(query, strlen(query), &d, msg, sizeof msg, &loc) < 0) fail_msg("%s", msg);
    ag_run_t r = {.as = as, .c = db};
    gql_env_t env = {.schema = as->gs, .resolve = ag_resolve, .ctx = &r};
    if (as->mode == AG_WRITEONLY || as->mode == AG_INSERTONLY) env.query_error = "Cannot read field using the provided token";
    buf_t out = BUF_INIT;
    gql_execute(&env, d, NULL, NULL, &out);
    if (strcmp(out.data, want) != 0) fail_msg("%s\n got: %s\nwant: %s", query, out.data, want);
    buf_free(&out);
    gql_doc_free(d);
}

static int setup(void **st) {
    (void)st;
    char msg[256];
    assert_int_equal(store_open(":memory:", STORE_CREATE, &db, msg, sizeof msg), 0);
    assert_int_equal(store_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
                                    "INSERT INTO t(v) VALUES ('one')"),
                     0);
    return 0;
}

static int teardown(void **st) {
    (void)st;
    store_close(db);
    return 0;
}

static void modes(void **st) {
    (void)st;
    ag_schema_t *rw = derive(AG_READWRITE), *ro = derive(AG_READONLY), *wo = derive(AG_WRITEONLY),
                *io = derive(AG_INSERTONLY);
    const char *fields = "{ __type(name: \"Mutation\") { fields { name args { name } } } }";
    run(ro, fields, "{\"data\":{\"__type\":null}}");
    run(rw, "{ t { id v } }", "{\"data\":{\"t\":[{\"id\":1,\"v\":\"one\"}]}}");
    /* insertonly: inserts only, no on_conflict, and no reading at all */
    run(io, "mutation { insert_t(objects: [{v: \"two\"}]) { affected_rows } }",
        "{\"data\":{\"insert_t\":{\"affected_rows\":1}}}");
    run(io, "mutation { delete_t(where: {}) { affected_rows } }",
        "{\"data\":null,\"errors\":[{\"message\":\"Cannot query field \\\"delete_t\\\" on type \\\"Mutation\\\".\",\"locations\":[{\"line\":1,\"column\":12}]}]}");
    run(io, "mutation { insert_t(objects: [], on_conflict: []) { affected_rows } }",
        "{\"data\":null,\"errors\":[{\"message\":\"Unknown argument \\\"on_conflict\\\" on field \\\"Mutation.insert_t\\\".\","
        "\"locations\":[{\"line\":1,\"column\":34}]}]}");
    run(io, "{ t { id } }",
        "{\"data\":null,\"errors\":[{\"message\":\"Cannot read field using the provided token\",\"locations\":[{\"line\":1,"
        "\"column\":3}],\"path\":[\"t\"]}]}");
    run(wo, "{ __typename }",
        "{\"data\":null,\"errors\":[{\"message\":\"Cannot read field using the provided token\",\"locations\":[{\"line\":1,"
        "\"column\":3}],\"path\":[\"__typename\"]}]}");
    run(wo, "mutation { update_t(where: {id: {_eq: 2}}, _set: {v: \"2\"}) { affected_rows } }",
        "{\"data\":{\"update_t\":{\"affected_rows\":1}}}");
    run(rw, "{ t { v } }", "{\"data\":{\"t\":[{\"v\":\"one\"},{\"v\":\"2\"}]}}");
    ag_schema_release(rw);
    ag_schema_release(ro);
    ag_schema_release(wo);
    ag_schema_release(io);
}

/* Team roles are rights on the team's databases, and only those; a scoped
 * token narrows them like any grant, and manages no team. */
static void team_roles_in_auth_check(void **st) {
    (void)st;
    db_t team_db = {.id = "01JTEAM", .owner_id = 50}, other = {.id = "01JOTHER", .owner_id = 60};
    actor_t viewer = {.principal_id = 2, .nteams = 1, .teams = {{50, ROLE_VIEWER}}};
    assert_true(auth_check(&viewer, &team_db, ACT_READ));
    assert_false(auth_check(&viewer, &team_db, ACT_WRITE));
    assert_false(auth_check(&viewer, &team_db, ACT_INSERT));
    assert_false(auth_check(&viewer, &other, ACT_READ));
    actor_t editor = {.principal_id = 3, .nteams = 1, .teams = {{50, ROLE_EDITOR}}};
    assert_true(auth_check(&editor, &team_db, ACT_READ | ACT_WRITE | ACT_SCHEMA));
    assert_true(auth_check(&editor, &team_db, ACT_INSERT));
    assert_false(auth_check(&editor, &team_db, ACT_OWNER));
    actor_t admin = {.principal_id = 4, .nteams = 1, .teams = {{50, ROLE_ADMIN}}};
    assert_true(auth_check(&admin, &team_db, ACT_OWNER));
    assert_false(auth_check(&admin, &other, ACT_READ));
    assert_int_equal(auth_team_roles(&admin, 50, false), ROLE_ADMIN);
    assert_int_equal(auth_team_roles(&admin, 4, true), ROLE_ADMIN); /* the personal team */
    assert_int_equal(auth_team_roles(&admin, 3, true), 0);
    admin.scoped = true;
    admin.nscopes = 1;
    admin.scopes[0] = (grant_t){"01JTEAM", ACT_READ};
    assert_true(auth_check(&admin, &team_db, ACT_READ));
    assert_false(auth_check(&admin, &team_db, ACT_WRITE));
    assert_int_equal(auth_team_roles(&admin, 50, false), 0);
    /* a team's API token: the team is its principal, its scopes the permissions */
    actor_t api = {.principal_id = 50, .scoped = true, .nscopes = 1, .scopes = {{"01JTEAM", ACT_WRITE}}};
    assert_true(auth_check(&api, &team_db, ACT_WRITE));
    assert_false(auth_check(&api, &team_db, ACT_READ));
    assert_false(auth_check(&api, &other, ACT_WRITE));
    assert_int_equal(apitok_perm_actions("write"), ACT_READ | ACT_WRITE | ACT_SCHEMA);
    assert_string_equal(apitok_perm_name(ACT_INSERT), "insertonly");
    assert_int_equal(apitok_perm_actions("admin"), 0);
}

/* The insert right: implied by write, and alone it grants nothing else. */
static void insert_right(void **st) {
    (void)st;
    db_t d = {.id = "01JDB", .owner_id = 7};
    actor_t writer = {.principal_id = 2, .ngrants = 1, .grants = {{"01JDB", ACT_READ | ACT_WRITE}}};
    assert_true(auth_check(&writer, &d, ACT_INSERT));
    actor_t narrowed = writer;
    narrowed.scoped = true;
    narrowed.nscopes = 1;
    narrowed.scopes[0] = (grant_t){"01JDB", ACT_INSERT};
    assert_true(auth_check(&narrowed, &d, ACT_INSERT));
    assert_false(auth_check(&narrowed, &d, ACT_WRITE));
    assert_false(auth_check(&narrowed, &d, ACT_READ));
    actor_t reader = {.principal_id = 3, .ngrants = 1, .grants = {{"01JDB", ACT_READ}}};
    assert_false(auth_check(&reader, &d, ACT_INSERT));
    /* a token cannot widen: insert scoped on a reader is still nothing */
    reader.scoped = true;
    reader.nscopes = 1;
    reader.scopes[0] = (grant_t){"01JDB", ACT_INSERT};
    assert_false(auth_check(&reader, &d, ACT_INSERT));
}

int main(void) {
    store_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(double_x_names),
        cmocka_unit_test(insert_right),
        cmocka_unit_test(team_roles_in_auth_check),
        cmocka_unit_test_setup_teardown(modes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
