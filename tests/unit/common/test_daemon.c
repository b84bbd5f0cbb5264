/* common/daemon.c: what dpsd and hubd share around their configuration,
 * tested once here rather than through each daemon: the store URL with its
 * password masked, the lexical absolute path, the derived data directory
 * and store, the tls pair rule, mkdir -p. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/daemon.h"

static void test_store_display_hides_passwords(void **state)
{
    (void)state;
    char out[256];
    dps_daemon_store_display("sqlite:/var/lib/dpsd/dpsd.db", out, sizeof out);
    assert_string_equal(out, "sqlite:/var/lib/dpsd/dpsd.db");
    dps_daemon_store_display("postgresql://dps:s3cret@db.example.net/dps", out, sizeof out);
    assert_string_equal(out, "postgresql://dps:***@db.example.net/dps");
    dps_daemon_store_display("postgresql://db.example.net/dps", out, sizeof out);
    assert_string_equal(out, "postgresql://db.example.net/dps");
    dps_daemon_store_display("postgresql:host=db password=s3cret user=x", out, sizeof out);
    assert_string_equal(out, "postgresql:host=db password=*** user=x");
    dps_daemon_store_display("host=db password=s3cret dbname=hubd", out, sizeof out);
    assert_string_equal(out, "host=db password=*** dbname=hubd");
}

static void test_absolute_path(void **state)
{
    (void)state;
    char *p = dps_daemon_absolute_path("/a/./b//c/../d/");
    assert_string_equal(p, "/a/b/d");
    free(p);
    p = dps_daemon_absolute_path("/..");
    assert_string_equal(p, "/");
    free(p);
    char *cwd = getcwd(NULL, 0);
    assert_non_null(cwd);
    char want[4096];
    snprintf(want, sizeof want, "%s/x", strcmp(cwd, "/") == 0 ? "" : cwd);
    p = dps_daemon_absolute_path("./x");
    assert_string_equal(p, want);
    free(p);
    free(cwd);
}

static void test_data_dir_and_store(void **state)
{
    (void)state;
    char err[256];
    char *dir = strdup("/srv//d/");
    char *store = strdup("");
    assert_int_equal(dps_daemon_conf_data_dir(&dir, &store, "x.db", err, sizeof err), 0);
    assert_string_equal(dir, "/srv/d");
    assert_string_equal(store, "sqlite:/srv/d/x.db");
    free(dir);
    free(store);

    dir = strdup("/");
    store = strdup("");
    assert_int_equal(dps_daemon_conf_data_dir(&dir, &store, "x.db", err, sizeof err), 0);
    assert_string_equal(store, "sqlite:/x.db");
    free(store);
    store = strdup("postgresql://db/x");
    assert_int_equal(dps_daemon_conf_data_dir(&dir, &store, "x.db", err, sizeof err), 0);
    assert_string_equal(store, "postgresql://db/x");
    free(dir);
    free(store);
}

static void test_tls_pair(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(dps_daemon_conf_tls_pair("", "", err, sizeof err), 0);
    assert_int_equal(dps_daemon_conf_tls_pair("c.pem", "k.pem", err, sizeof err), 0);
    assert_int_equal(dps_daemon_conf_tls_pair("c.pem", "", err, sizeof err), -1);
    assert_non_null(strstr(err, "set both"));
    assert_int_equal(dps_daemon_conf_tls_pair("", "k.pem", err, sizeof err), -1);
}

static void test_make_dirs(void **state)
{
    (void)state;
    char base[] = "/tmp/dps-daemon-test-XXXXXX";
    assert_non_null(mkdtemp(base));
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/a/b", base);
    assert_int_equal(dps_daemon_make_dirs(path, 0700, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(dps_daemon_make_dirs(path, 0700, err, sizeof err), 0); /* exists */

    char file[300];
    snprintf(file, sizeof file, "%s/f", path);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(dps_daemon_make_dirs(file, 0700, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a directory"));

    unlink(file);
    rmdir(path);
    snprintf(path, sizeof path, "%s/a", base);
    rmdir(path);
    rmdir(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_display_hides_passwords),
        cmocka_unit_test(test_absolute_path),
        cmocka_unit_test(test_data_dir_and_store),
        cmocka_unit_test(test_tls_pair),
        cmocka_unit_test(test_make_dirs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
