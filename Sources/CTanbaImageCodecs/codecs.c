#include "tanba_codecs.h"
int tanba_codecs_version(void) { return 1; }
