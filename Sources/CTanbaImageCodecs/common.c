#include "tanba_codecs.h"
#include "codecs_internal.h"
#include <stdlib.h>

void tanba_codecs_free(void *pointer) { free(pointer); }

int tanba_buffer_write(tanba_buffer *buffer, const void *bytes, size_t count) {
    if (count > SIZE_MAX - buffer->position) return 0;
    size_t end = buffer->position + count;
    if (end > buffer->capacity) {
        size_t capacity = buffer->capacity < 4096 ? 4096 : buffer->capacity;
        while (capacity < end) {
            if (capacity > SIZE_MAX / 2) { capacity = end; break; }
            capacity *= 2;
        }
        uint8_t *grown = realloc(buffer->data, capacity);
        if (grown == NULL) return 0;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    // A write after a seek past the end leaves a gap; TIFF files must not contain garbage.
    if (buffer->position > buffer->size) memset(buffer->data + buffer->size, 0, buffer->position - buffer->size);
    memcpy(buffer->data + buffer->position, bytes, count);
    buffer->position = end;
    if (end > buffer->size) buffer->size = end;
    return 1;
}
