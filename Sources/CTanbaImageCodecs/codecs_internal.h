// Private helpers shared by the wrappers (not part of the module's public header).
#ifndef TANBA_CODECS_INTERNAL_H
#define TANBA_CODECS_INTERNAL_H
#include <stdio.h>
#include <string.h>

/// Copies `text` into the caller's message buffer, truncating; tolerates a NULL buffer.
static inline void tanba_set_message(char *message, size_t capacity, const char *text) {
    if (message == NULL || capacity == 0) return;
    snprintf(message, capacity, "%s", text != NULL && text[0] != '\0' ? text : "unknown error");
}

/// A growable output buffer for the encoders. `size` is the logical end of the data (libtiff
/// seeks back to patch offsets, so the write position may be before it).
typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
    size_t position;
} tanba_buffer;

/// Writes at the current position, growing the buffer; returns 0 when out of memory.
int tanba_buffer_write(tanba_buffer *buffer, const void *bytes, size_t count);

#endif
