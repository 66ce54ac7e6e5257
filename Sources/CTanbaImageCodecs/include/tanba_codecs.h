#ifndef TANBA_CODECS_H
#define TANBA_CODECS_H
#include <stdint.h>
#include <stddef.h>
// Placeholder until the codec wrappers land.
int tanba_codecs_version(void);
#endif
