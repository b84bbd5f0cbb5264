/* The store contract, exercised through the public interface on a real SQLite
 * file: reads and writes per collection, the conditional write modes, paging,
 * counting, instance settings and durability across a reopen. */
#include "store_fixture.h"

static const dps_collection all_collections[] = {
    DPS_COLL_ENROLLMENT,    DPS_COLL_ENROLLMENT_GROUP, DPS_COLL_REGISTRATION,
    DPS_COLL_LINKED_HUB,    DPS_COLL_ACCESS_POLICY,    DPS_COLL_CA_CERTIFICATE,
    DPS_COLL_HUB,           DPS_COLL_HUB_POLICY,       DPS_COLL_HUB_DEVICE,
    DPS_COLL_HUB_CA,
};
#define N_COLLECTIONS (sizeof all_collections / sizeof all_collections[0])

static void test_crud_every_collection(void **state)
{
    store_fixture *f = *state;
    dps_store *s = f->store;
    for (size_t i = 0; i < N_COLLECTIONS; i++) {
        dps_collection c = all_collections[i];
        size_t n = 99;
        put_ok(s, c, "alpha", "{\"v\":1}", "e1", "g1");
        expect_record(s, c, "alpha", "{\"v\":1}", "e1", "g1");
        assert_int_equal(dps_store_count(s, c, &n), DPS_STORE_OK);
        assert_int_equal(n, 1);

        dps_record r = make_record("alpha", "{\"v\":2}", "e2", NULL);
        assert_int_equal(dps_store_put(s, c, &r, DPS_PUT_UPSERT, NULL), DPS_STORE_OK);
        expect_record(s, c, "alpha", "{\"v\":2}", "e2", NULL);

        assert_int_equal(dps_store_delete(s, c, "alpha", NULL), DPS_STORE_OK);
        dps_record got;
        assert_int_equal(dps_store_get(s, c, "alpha", &got), DPS_STORE_NOT_FOUND);
        assert_null(got.doc); /* outputs stay empty on failure */
        assert_int_equal(dps_store_count(s, c, &n), DPS_STORE_OK);
        assert_int_equal(n, 0);
    }
}

static void test_collections_are_separate(void **state)
{
    store_fixture *f = *state;
    put_ok(f->store, DPS_COLL_ENROLLMENT, "dev1", "{\"e\":1}", "a", NULL);
    dps_record got;
    assert_int_equal(dps_store_get(f->store, DPS_COLL_REGISTRATION, "dev1", &got),
                     DPS_STORE_NOT_FOUND);
    put_ok(f->store, DPS_COLL_REGISTRATION, "dev1", "{\"r\":1}", "b", NULL);
    expect_record(f->store, DPS_COLL_ENROLLMENT, "dev1", "{\"e\":1}", "a", NULL);
    expect_record(f->store, DPS_COLL_REGISTRATION, "dev1", "{\"r\":1}", "b", NULL);
}

static void test_create_conflict_keeps_original(void **state)
{
    store_fixture *f = *state;
    put_ok(f->store, DPS_COLL_ENROLLMENT, "dev1", "{\"first\":true}", "e1", NULL);
    dps_record r = make_record("dev1", "{\"second\":true}", "e2", NULL);
    assert_int_equal(dps_store_put(f->store, DPS_COLL_ENROLLMENT, &r, DPS_PUT_CREATE, NULL),
                     DPS_STORE_EXISTS);
    expect_record(f->store, DPS_COLL_ENROLLMENT, "dev1", "{\"first\":true}", "e1", NULL);
}

static void test_upsert_creates_then_replaces(void **state)
{
    store_fixture *f = *state;
    dps_record r = make_record("hub1.example", "{\"w\":1}", "e1", NULL);
    assert_int_equal(dps_store_put(f->store, DPS_COLL_LINKED_HUB, &r, DPS_PUT_UPSERT, NULL),
                     DPS_STORE_OK);
    expect_record(f->store, DPS_COLL_LINKED_HUB, "hub1.example", "{\"w\":1}", "e1", NULL);
    r = make_record("hub1.example", "{\"w\":2}", "e2", NULL);
    assert_int_equal(dps_store_put(f->store, DPS_COLL_LINKED_HUB, &r, DPS_PUT_UPSERT, NULL),
                     DPS_STORE_OK);
    expect_record(f->store, DPS_COLL_LINKED_HUB, "hub1.example", "{\"w\":2}", "e2", NULL);
    size_t n = 0;
    assert_int_equal(dps_store_count(f->store, DPS_COLL_LINKED_HUB, &n), DPS_STORE_OK);
    assert_int_equal(n, 1);
}

static void test_if_etag(void **state)
{
    store_fixture *f = *state;
    dps_store *s = f->store;
    put_ok(s, DPS_COLL_ENROLLMENT_GROUP, "grp", "{\"v\":1}", "e1", NULL);

    dps_record r = make_record("grp", "{\"v\":2}", "e2", NULL);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT_GROUP, &r, DPS_PUT_IF_ETAG, "e1"),
                     DPS_STORE_OK);
    expect_record(s, DPS_COLL_ENROLLMENT_GROUP, "grp", "{\"v\":2}", "e2", NULL);

    /* The old ETag no longer matches: nothing changes. */
    r = make_record("grp", "{\"v\":3}", "e3", NULL);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT_GROUP, &r, DPS_PUT_IF_ETAG, "e1"),
                     DPS_STORE_ETAG_MISMATCH);
    expect_record(s, DPS_COLL_ENROLLMENT_GROUP, "grp", "{\"v\":2}", "e2", NULL);

    /* An absent record is NOT_FOUND, and is not created. */
    r = make_record("nogrp", "{\"v\":1}", "e9", NULL);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT_GROUP, &r, DPS_PUT_IF_ETAG, "e1"),
                     DPS_STORE_NOT_FOUND);
    dps_record got;
    assert_int_equal(dps_store_get(s, DPS_COLL_ENROLLMENT_GROUP, "nogrp", &got),
                     DPS_STORE_NOT_FOUND);
}

static void test_delete(void **state)
{
    store_fixture *f = *state;
    dps_store *s = f->store;
    put_ok(s, DPS_COLL_ACCESS_POLICY, "owner", "{}", "e1", NULL);
    assert_int_equal(dps_store_delete(s, DPS_COLL_ACCESS_POLICY, "owner", "other"),
                     DPS_STORE_ETAG_MISMATCH);
    expect_record(s, DPS_COLL_ACCESS_POLICY, "owner", "{}", "e1", NULL);
    assert_int_equal(dps_store_delete(s, DPS_COLL_ACCESS_POLICY, "owner", "e1"), DPS_STORE_OK);
    assert_int_equal(dps_store_delete(s, DPS_COLL_ACCESS_POLICY, "owner", "e1"),
                     DPS_STORE_NOT_FOUND);
    assert_int_equal(dps_store_delete(s, DPS_COLL_ACCESS_POLICY, "owner", NULL),
                     DPS_STORE_NOT_FOUND);

    put_ok(s, DPS_COLL_ACCESS_POLICY, "reader", "{}", "e7", NULL);
    assert_int_equal(dps_store_delete(s, DPS_COLL_ACCESS_POLICY, "reader", NULL), DPS_STORE_OK);
    size_t n = 1;
    assert_int_equal(dps_store_count(s, DPS_COLL_ACCESS_POLICY, &n), DPS_STORE_OK);
    assert_int_equal(n, 0);
}

static void key_of(int i, char *out, size_t n)
{
    int len = snprintf(out, n, "dev-%03d", i);
    assert_true(len > 0 && (size_t)len < n);
}

/* Inserts keys dev-000 .. dev-(n-1) in a scrambled order, so key order in
 * listings cannot come from insertion order. */
static void insert_scrambled(dps_store *s, dps_collection c, int n, const char *group)
{
    for (int i = 0; i < n; i++) {
        char key[16];
        key_of((i * 7) % n, key, sizeof key);
        put_ok(s, c, key, "{}", "e", group);
    }
}

/* Walks all pages of size page; checks order, counts and the `more` flags. */
static void walk_pages(dps_store *s, dps_collection c, const char *group, size_t page,
                       int total, const char *key_prefix)
{
    char after[32] = "";
    int seen = 0;
    size_t pages = 0;
    for (;;) {
        dps_record_list l;
        assert_int_equal(dps_store_list(s, c, group, seen ? after : NULL, page, &l),
                         DPS_STORE_OK);
        pages++;
        assert_true(l.count <= page);
        for (size_t i = 0; i < l.count; i++) {
            char want[32];
            int len = snprintf(want, sizeof want, "%s%03d", key_prefix, seen);
            assert_true(len > 0 && (size_t)len < sizeof want);
            assert_string_equal(l.items[i].key, want);
            if (group != NULL)
                assert_string_equal(l.items[i].group, group);
            seen++;
        }
        bool more = l.more;
        if (l.count > 0)
            snprintf(after, sizeof after, "%s", l.items[l.count - 1].key);
        /* A full page is the only kind that may say more; a short one ends. */
        if (l.count < page)
            assert_false(more);
        dps_record_list_free(&l);
        assert_null(l.items);
        if (!more)
            break;
        assert_true(pages < 1000);
    }
    assert_int_equal(seen, total);
    assert_int_equal(pages, (size_t)(total + (int)page - 1) / page + (total == 0));
}

static void test_list_paging(void **state)
{
    store_fixture *f = *state;
    insert_scrambled(f->store, DPS_COLL_ENROLLMENT, 25, NULL);
    walk_pages(f->store, DPS_COLL_ENROLLMENT, NULL, 10, 25, "dev-"); /* 10, 10, 5 */
    walk_pages(f->store, DPS_COLL_ENROLLMENT, NULL, 5, 25, "dev-");  /* exact multiple */
    walk_pages(f->store, DPS_COLL_ENROLLMENT, NULL, 1, 25, "dev-");
    walk_pages(f->store, DPS_COLL_ENROLLMENT, NULL, 25, 25, "dev-");

    /* A single page shows `more` exactly when records remain. */
    dps_record_list l;
    assert_int_equal(dps_store_list(f->store, DPS_COLL_ENROLLMENT, NULL, NULL, 24, &l),
                     DPS_STORE_OK);
    assert_int_equal(l.count, 24);
    assert_true(l.more);
    dps_record_list_free(&l);
    assert_int_equal(dps_store_list(f->store, DPS_COLL_ENROLLMENT, NULL, "dev-023", 10, &l),
                     DPS_STORE_OK);
    assert_int_equal(l.count, 1); /* after_key is exclusive */
    assert_string_equal(l.items[0].key, "dev-024");
    assert_false(l.more);
    dps_record_list_free(&l);
    /* An after_key that is not itself stored still positions the page. */
    assert_int_equal(dps_store_list(f->store, DPS_COLL_ENROLLMENT, NULL, "dev-0105", 2, &l),
                     DPS_STORE_OK);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.items[0].key, "dev-011");
    dps_record_list_free(&l);
}

static void test_list_empty(void **state)
{
    store_fixture *f = *state;
    dps_record_list l;
    assert_int_equal(dps_store_list(f->store, DPS_COLL_CA_CERTIFICATE, NULL, NULL, 10, &l),
                     DPS_STORE_OK);
    assert_int_equal(l.count, 0);
    assert_false(l.more);
    dps_record_list_free(&l);
    put_ok(f->store, DPS_COLL_CA_CERTIFICATE, "root", "{}", "e", NULL);
    assert_int_equal(dps_store_list(f->store, DPS_COLL_CA_CERTIFICATE, NULL, "root", 10, &l),
                     DPS_STORE_OK);
    assert_int_equal(l.count, 0);
    assert_false(l.more);
    dps_record_list_free(&l);
}

static void test_list_group_filter(void **state)
{
    store_fixture *f = *state;
    dps_store *s = f->store;
    /* Interleave three groups (and records without one) in key space. */
    for (int i = 0; i < 30; i++) {
        char key[16];
        key_of(i, key, sizeof key);
        const char *group = i % 3 == 0 ? "g-a" : i % 3 == 1 ? "g-b" : NULL;
        put_ok(s, DPS_COLL_REGISTRATION, key, "{}", "e", group);
    }
    dps_record_list l;
    assert_int_equal(dps_store_list(s, DPS_COLL_REGISTRATION, "g-a", NULL, 4, &l),
                     DPS_STORE_OK);
    assert_int_equal(l.count, 4);
    assert_true(l.more);
    const char *want_a[] = {"dev-000", "dev-003", "dev-006", "dev-009"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(l.items[i].key, want_a[i]);
        assert_string_equal(l.items[i].group, "g-a");
    }
    dps_record_list_free(&l);

    /* Last page of g-b: dev-025 and dev-028 follow dev-022. */
    assert_int_equal(dps_store_list(s, DPS_COLL_REGISTRATION, "g-b", "dev-022", 5, &l),
                     DPS_STORE_OK);
    assert_int_equal(l.count, 2);
    assert_false(l.more);
    assert_string_equal(l.items[0].key, "dev-025");
    assert_string_equal(l.items[1].key, "dev-028");
    dps_record_list_free(&l);

    assert_int_equal(dps_store_list(s, DPS_COLL_REGISTRATION, "g-none", NULL, 5, &l),
                     DPS_STORE_OK);
    assert_int_equal(l.count, 0);
    dps_record_list_free(&l);

    /* Moving a record to another group moves it between listings. */
    dps_record r = make_record("dev-000", "{}", "e2", "g-b");
    assert_int_equal(dps_store_put(s, DPS_COLL_REGISTRATION, &r, DPS_PUT_IF_ETAG, "e"),
                     DPS_STORE_OK);
    assert_int_equal(dps_store_list(s, DPS_COLL_REGISTRATION, "g-b", NULL, 1, &l),
                     DPS_STORE_OK);
    assert_string_equal(l.items[0].key, "dev-000");
    dps_record_list_free(&l);

    /* Without a group filter every record is listed. */
    assert_int_equal(dps_store_list(s, DPS_COLL_REGISTRATION, NULL, NULL, 100, &l),
                     DPS_STORE_OK);
    assert_int_equal(l.count, 30);
    assert_false(l.more);
    dps_record_list_free(&l);

    /* A group filter pages like an unfiltered listing. */
    insert_scrambled(s, DPS_COLL_ENROLLMENT, 12, "solo");
    walk_pages(s, DPS_COLL_ENROLLMENT, "solo", 5, 12, "dev-");
}

static void test_count(void **state)
{
    store_fixture *f = *state;
    insert_scrambled(f->store, DPS_COLL_REGISTRATION, 17, "g");
    insert_scrambled(f->store, DPS_COLL_ENROLLMENT, 3, NULL);
    size_t n = 0;
    assert_int_equal(dps_store_count(f->store, DPS_COLL_REGISTRATION, &n), DPS_STORE_OK);
    assert_int_equal(n, 17);
    assert_int_equal(dps_store_count(f->store, DPS_COLL_ENROLLMENT, &n), DPS_STORE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(dps_store_count(f->store, DPS_COLL_LINKED_HUB, &n), DPS_STORE_OK);
    assert_int_equal(n, 0);
}

static void test_meta(void **state)
{
    store_fixture *f = *state;
    char *v = (char *)"sentinel";
    assert_int_equal(dps_store_meta_get(f->store, "id_scope", &v), DPS_STORE_NOT_FOUND);
    assert_null(v);
    assert_int_equal(dps_store_meta_set(f->store, "id_scope", "0ne00000001"), DPS_STORE_OK);
    assert_int_equal(dps_store_meta_set(f->store, "allocation", "hashed"), DPS_STORE_OK);
    assert_int_equal(dps_store_meta_get(f->store, "id_scope", &v), DPS_STORE_OK);
    assert_string_equal(v, "0ne00000001");
    free(v);
    assert_int_equal(dps_store_meta_set(f->store, "id_scope", "0ne00000002"), DPS_STORE_OK);
    assert_int_equal(dps_store_meta_get(f->store, "id_scope", &v), DPS_STORE_OK);
    assert_string_equal(v, "0ne00000002");
    free(v);
    assert_int_equal(dps_store_meta_get(f->store, "allocation", &v), DPS_STORE_OK);
    assert_string_equal(v, "hashed");
    free(v);
}

static void test_persists_across_reopen(void **state)
{
    store_fixture *f = *state;
    put_ok(f->store, DPS_COLL_ENROLLMENT, "dev1", "{\"k\":\"secret\"}", "e1", NULL);
    put_ok(f->store, DPS_COLL_REGISTRATION, "dev1", "{}", "r1", "grp");
    assert_int_equal(dps_store_meta_set(f->store, "id_scope", "0ne1"), DPS_STORE_OK);
    dps_store_close(&f->store);
    assert_null(f->store);

    char err[256] = "";
    char url[160];
    snprintf(url, sizeof url, "sqlite:%s", f->path);
    f->store = dps_store_open(url, err, sizeof err);
    assert_non_null(f->store);
    expect_record(f->store, DPS_COLL_ENROLLMENT, "dev1", "{\"k\":\"secret\"}", "e1", NULL);
    expect_record(f->store, DPS_COLL_REGISTRATION, "dev1", "{}", "r1", "grp");
    char *v = NULL;
    assert_int_equal(dps_store_meta_get(f->store, "id_scope", &v), DPS_STORE_OK);
    assert_string_equal(v, "0ne1");
    free(v);
}

static void test_values_kept_byte_exact(void **state)
{
    store_fixture *f = *state;
    /* Keys are compared exactly: normalising case is the caller's job. */
    put_ok(f->store, DPS_COLL_ENROLLMENT, "Dev", "{\"a\":1}", "e1", NULL);
    put_ok(f->store, DPS_COLL_ENROLLMENT, "dev", "{\"a\":2}", "e2", NULL);
    /* Quotes and SQL text in values are data, never statement text. */
    const char *odd = "x'); DROP TABLE enrollments; --\"\xc3\xa9";
    put_ok(f->store, DPS_COLL_ENROLLMENT, odd, odd, odd, odd);
    expect_record(f->store, DPS_COLL_ENROLLMENT, odd, odd, odd, odd);
    expect_record(f->store, DPS_COLL_ENROLLMENT, "Dev", "{\"a\":1}", "e1", NULL);
    size_t n = 0;
    assert_int_equal(dps_store_count(f->store, DPS_COLL_ENROLLMENT, &n), DPS_STORE_OK);
    assert_int_equal(n, 3);
}

static void test_invalid_arguments_refused(void **state)
{
    store_fixture *f = *state;
    dps_store *s = f->store;
    dps_record got;
    dps_record_list l;
    size_t n;
    char *v;
    dps_record ok = make_record("k", "{}", "e", NULL);
    dps_record nodoc = make_record("k", NULL, "e", NULL);
    dps_record noetag = make_record("k", "{}", "", NULL);
    dps_record nokey = make_record("", "{}", "e", NULL);
    char longkey[1100];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    dps_record bigkey = make_record(longkey, "{}", "e", NULL);

    assert_int_equal(dps_store_get(NULL, DPS_COLL_ENROLLMENT, "k", &got), DPS_STORE_ERROR);
    assert_int_equal(dps_store_get(s, DPS_COLL_COUNT, "k", &got), DPS_STORE_ERROR);
    assert_int_equal(dps_store_get(s, DPS_COLL_ENROLLMENT, NULL, &got), DPS_STORE_ERROR);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT, NULL, DPS_PUT_CREATE, NULL),
                     DPS_STORE_ERROR);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT, &nodoc, DPS_PUT_CREATE, NULL),
                     DPS_STORE_ERROR);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT, &noetag, DPS_PUT_CREATE, NULL),
                     DPS_STORE_ERROR);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT, &nokey, DPS_PUT_CREATE, NULL),
                     DPS_STORE_ERROR);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT, &bigkey, DPS_PUT_CREATE, NULL),
                     DPS_STORE_ERROR);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT, &ok, DPS_PUT_IF_ETAG, NULL),
                     DPS_STORE_ERROR);
    assert_int_equal(dps_store_put(s, DPS_COLL_ENROLLMENT, &ok, (dps_put_mode)42, NULL),
                     DPS_STORE_ERROR);
    assert_int_equal(dps_store_delete(s, (dps_collection)-1, "k", NULL), DPS_STORE_ERROR);
    assert_int_equal(dps_store_list(s, DPS_COLL_ENROLLMENT, NULL, NULL, 0, &l),
                     DPS_STORE_ERROR);
    assert_int_equal(dps_store_count(s, DPS_COLL_COUNT, &n), DPS_STORE_ERROR);
    assert_int_equal(dps_store_meta_get(s, "", &v), DPS_STORE_ERROR);
    assert_int_equal(dps_store_meta_set(s, "x", NULL), DPS_STORE_ERROR);
    /* None of the refused writes reached the database. */
    assert_int_equal(dps_store_count(s, DPS_COLL_ENROLLMENT, &n), DPS_STORE_OK);
    assert_int_equal(n, 0);
    /* Freeing and closing tolerate NULL. */
    dps_record_free(NULL);
    dps_record_list_free(NULL);
    dps_store_close(NULL);
}

static void test_result_names(void **state)
{
    (void)state;
    assert_string_equal(dps_store_result_name(DPS_STORE_OK), "ok");
    assert_string_equal(dps_store_result_name(DPS_STORE_NOT_FOUND), "not found");
    assert_string_equal(dps_store_result_name(DPS_STORE_EXISTS), "exists");
    assert_string_equal(dps_store_result_name(DPS_STORE_ETAG_MISMATCH), "etag mismatch");
    assert_string_equal(dps_store_result_name(DPS_STORE_ERROR), "error");
    assert_string_equal(dps_store_result_name((dps_store_result)77), "unknown");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_crud_every_collection),
        T(test_collections_are_separate),
        T(test_create_conflict_keeps_original),
        T(test_upsert_creates_then_replaces),
        T(test_if_etag),
        T(test_delete),
        T(test_list_paging),
        T(test_list_empty),
        T(test_list_group_filter),
        T(test_count),
        T(test_meta),
        T(test_persists_across_reopen),
        T(test_values_kept_byte_exact),
        T(test_invalid_arguments_refused),
        cmocka_unit_test(test_result_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
