/* Temporary config files for the tests of the option-table engine and of
 * each daemon's table (common/test_conftable.c, dpsd/test_config.c,
 * hubd/test_hubd_config.c). Include after <cmocka.h>. */
#ifndef DPS_TEST_CONF_FIXTURE_H
#define DPS_TEST_CONF_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes text to a fresh temporary file; returns its path (free and unlink
 * it with remove_temp). */
static inline char *write_temp(const char *text)
{
    char *path = strdup("/tmp/dps-conf-test-XXXXXX");
    assert_non_null(path);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return path;
}

static inline void remove_temp(char *path)
{
    unlink(path);
    free(path);
}

#endif
