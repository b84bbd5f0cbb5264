/* Schema of the SQLite store and the steps that bring an older database file
 * up to it. Internal to the store (store_sqlite.c is the only user). */
#ifndef DPSD_STORE_MIGRATIONS_SQLITE_H
#define DPSD_STORE_MIGRATIONS_SQLITE_H

#include <stddef.h>
#include <sqlite3.h>

#include "store/store.h"

/* The schema version this build writes (the number of migration steps). */
int dps_sqlite_schema_version(void);

/* Fixed table name of a collection, or NULL when c is out of range. Table
 * names never come from input; SQL text is built only from these. */
const char *dps_sqlite_table_name(dps_collection c);

/* Applies every step above the file's PRAGMA user_version in one IMMEDIATE
 * transaction (so two processes opening a new file cannot both run a step),
 * then sets user_version. Refuses a file written by a newer schema. Returns 0,
 * or -1 with the reason in err. */
int dps_sqlite_migrate(sqlite3 *db, char *err, size_t errlen);

#endif
