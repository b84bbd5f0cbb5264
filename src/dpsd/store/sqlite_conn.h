/* Internal to the SQLite store: one configured, migrated connection. */
#ifndef DPSD_STORE_SQLITE_CONN_H
#define DPSD_STORE_SQLITE_CONN_H

#include <stddef.h>
#include <sqlite3.h>

/* Opens (creating with mode 0600 if needed) the database file at path, sets
 * WAL, synchronous=FULL, foreign keys, secure_delete and the busy timeout,
 * and applies pending schema migrations. Returns the connection, or NULL
 * with the reason in err. The parent directory must exist. */
sqlite3 *dps_sqlite_connect(const char *path, char *err, size_t errlen);

#endif
