// Debian's libsqlite3 3.40.1 is built with the session extension, but sqlite3.h
// only declares it when these are defined before the include.
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
