// TIFF through libtiff, reading from and writing to memory with TIFFClientOpenExt.
//
// Decoding goes through TIFFRGBAImage, libtiff's own "anything to RGBA" path: it knows every
// photometric interpretation, bit depth, palette, orientation and compression libtiff supports,
// which is exactly the breadth wanted here. The price is a transient 4-byte-per-pixel raster.
//
// Errors and warnings are captured per handle (TIFFOpenOptions handlers, libtiff >= 4.5), so
// concurrent decodes do not share state; the process-wide handlers are also silenced once
// because a few libtiff code paths still report through them, and they print to stderr.
#include "tanba_codecs.h"
#include "codecs_internal.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <tiffio.h>

/// One open TIFF: the bytes, a cursor, and the first error libtiff reported.
typedef struct {
    const uint8_t *data; // reading
    tanba_buffer *output; // writing
    uint64_t size;
    uint64_t position;
    char error[256];
} tiff_stream;

static int on_tiff_error(TIFF *tiff, void *user_data, const char *module, const char *format, va_list args) {
    (void)tiff; (void)module;
    tiff_stream *stream = user_data;
    // The first error is the cause; later ones are consequences ("cannot read strip 3").
    if (stream->error[0] == '\0') vsnprintf(stream->error, sizeof stream->error, format, args);
    return 1; // handled: do not call the global handler
}

static int on_tiff_warning(TIFF *tiff, void *user_data, const char *module, const char *format, va_list args) {
    (void)tiff; (void)module;
    // Warnings are dropped (unknown tags, odd but readable values), except one: a tag whose
    // data lies past the end of the file. libtiff then ignores the tag and carries on; for a
    // cut-off palette image that means no colour map, and the raw indices decoded as gray.
    // A truncated file must fail, not decode to different pixels.
    tiff_stream *stream = user_data;
    char text[sizeof stream->error];
    vsnprintf(text, sizeof text, format, args);
    if (strncmp(text, "IO error", 8) == 0 && stream->error[0] == '\0') memcpy(stream->error, text, sizeof text);
    return 1;
}

static pthread_once_t silence_once = PTHREAD_ONCE_INIT;
static void silence_global_handlers(void) {
    TIFFSetErrorHandler(NULL);
    TIFFSetWarningHandler(NULL);
}

// MARK: Client I/O over memory

static tmsize_t stream_read(thandle_t handle, void *buffer, tmsize_t count) {
    tiff_stream *stream = handle;
    if (stream->data == NULL || count < 0 || stream->position >= stream->size) return 0;
    uint64_t available = stream->size - stream->position;
    uint64_t n = (uint64_t)count < available ? (uint64_t)count : available;
    memcpy(buffer, stream->data + stream->position, (size_t)n);
    stream->position += n;
    return (tmsize_t)n;
}

static tmsize_t stream_write(thandle_t handle, void *buffer, tmsize_t count) {
    tiff_stream *stream = handle;
    if (stream->output == NULL || count < 0) return 0;
    stream->output->position = (size_t)stream->position;
    if (!tanba_buffer_write(stream->output, buffer, (size_t)count)) return 0;
    stream->position = stream->output->position;
    stream->size = stream->output->size;
    return count;
}

static toff_t stream_seek(thandle_t handle, toff_t offset, int whence) {
    tiff_stream *stream = handle;
    uint64_t base = whence == SEEK_CUR ? stream->position : whence == SEEK_END ? stream->size : 0;
    if (offset > UINT64_MAX - base) return (toff_t)-1;
    stream->position = base + offset;
    return stream->position;
}

static int stream_close(thandle_t handle) { (void)handle; return 0; }
static toff_t stream_size(thandle_t handle) { return ((tiff_stream *)handle)->size; }

/// Reading maps the whole buffer, so libtiff reads strips in place instead of copying them.
static int stream_map(thandle_t handle, void **base, toff_t *size) {
    tiff_stream *stream = handle;
    if (stream->data == NULL) return 0;
    *base = (void *)stream->data;
    *size = stream->size;
    return 1;
}

static void stream_unmap(thandle_t handle, void *base, toff_t size) { (void)handle; (void)base; (void)size; }

static TIFF *open_stream(tiff_stream *stream, const char *mode) {
    pthread_once(&silence_once, silence_global_handlers);
    TIFFOpenOptions *options = TIFFOpenOptionsAlloc();
    if (options == NULL) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(options, on_tiff_error, stream);
    TIFFOpenOptionsSetWarningHandlerExtR(options, on_tiff_warning, stream);
    // Hostile headers otherwise make libtiff ask for gigabytes. The largest legitimate buffer
    // is one strip of a maximal image: 40 Mpixel x 3 samples x 16 bits = 240 MB.
    TIFFOpenOptionsSetMaxSingleMemAlloc(options, (tmsize_t)256 << 20);
    TIFF *tiff = TIFFClientOpenExt("memory", mode, stream, stream_read, stream_write, stream_seek,
                                   stream_close, stream_size, stream_map, stream_unmap, options);
    TIFFOpenOptionsFree(options);
    return tiff;
}

static tanba_codec_status fail(tiff_stream *stream, const char *fallback, tanba_codec_status status,
                               char *message, size_t message_capacity) {
    tanba_set_message(message, message_capacity, stream->error[0] != '\0' ? stream->error : fallback);
    return status;
}

// MARK: Reading

tanba_codec_status tanba_tiff_read_header(const uint8_t *data, size_t size, tanba_image_info *info,
                                          char *message, size_t message_capacity) {
    tiff_stream stream = {data, NULL, size, 0, {0}};
    TIFF *tiff = open_stream(&stream, "r");
    if (tiff == NULL || stream.error[0] != '\0') {
        if (tiff != NULL) TIFFClose(tiff);
        return fail(&stream, "not a readable TIFF", TANBA_CODEC_CORRUPT, message, message_capacity);
    }
    uint32_t width = 0, height = 0;
    float x_resolution = 0, y_resolution = 0;
    uint16_t unit = RESUNIT_INCH; // the TIFF default when the tag is absent
    int ok = TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &width) && TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &height);
    TIFFGetField(tiff, TIFFTAG_XRESOLUTION, &x_resolution); // both optional; stay 0 when absent
    TIFFGetField(tiff, TIFFTAG_YRESOLUTION, &y_resolution);
    TIFFGetField(tiff, TIFFTAG_RESOLUTIONUNIT, &unit);
    TIFFClose(tiff);
    if (!ok) return fail(&stream, "TIFF without image width or length", TANBA_CODEC_CORRUPT, message, message_capacity);
    memset(info, 0, sizeof *info);
    info->width = width;
    info->height = height;
    info->x_resolution = x_resolution;
    info->y_resolution = y_resolution;
    info->resolution_unit = unit;
    return TANBA_CODEC_OK;
}

tanba_codec_status tanba_tiff_decode_gray(const uint8_t *data, size_t size, uint8_t *pixels,
                                          uint32_t width, uint32_t height,
                                          char *message, size_t message_capacity) {
    tiff_stream stream = {data, NULL, size, 0, {0}};
    TIFF *tiff = open_stream(&stream, "r");
    if (tiff == NULL || stream.error[0] != '\0') {
        if (tiff != NULL) TIFFClose(tiff);
        return fail(&stream, "not a readable TIFF", TANBA_CODEC_CORRUPT, message, message_capacity);
    }

    char reason[1024] = {0};
    TIFFRGBAImage image;
    if (!TIFFRGBAImageOK(tiff, reason) || !TIFFRGBAImageBegin(&image, tiff, 0, reason)) {
        TIFFClose(tiff);
        // TIFFRGBAImageOK explains in `reason` (e.g. "Sorry, can not handle images with
        // 32-bit samples"); a handler message, if any, came first and is more specific.
        return fail(&stream, reason, TANBA_CODEC_UNSUPPORTED, message, message_capacity);
    }
    tanba_codec_status status = TANBA_CODEC_OK;
    uint32_t *raster = NULL;
    if (image.width != width || image.height != height) {
        status = fail(&stream, "TIFF size differs from the size passed in", TANBA_CODEC_FAILED, message, message_capacity);
    } else if ((raster = malloc((size_t)width * height * sizeof *raster)) == NULL) {
        status = fail(&stream, "out of memory", TANBA_CODEC_FAILED, message, message_capacity);
    } else {
        image.req_orientation = ORIENTATION_TOPLEFT; // the default is bottom-up, OpenGL style
        // Some read errors are reported while libtiff carries on; any error fails the decode.
        if (!TIFFRGBAImageGet(&image, raster, width, height) || stream.error[0] != '\0') {
            status = fail(&stream, "cannot read the TIFF image data", TANBA_CODEC_CORRUPT, message, message_capacity);
        } else {
            for (size_t i = 0; i < (size_t)width * height; i++) {
                uint32_t abgr = raster[i];
                pixels[i] = tanba_luma((uint8_t)TIFFGetR(abgr), (uint8_t)TIFFGetG(abgr), (uint8_t)TIFFGetB(abgr));
            }
        }
    }
    free(raster);
    TIFFRGBAImageEnd(&image);
    TIFFClose(tiff);
    return status;
}

// MARK: Writing

tanba_codec_status tanba_tiff_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                                     tanba_tiff_layout layout, uint16_t compression, double dpi,
                                     uint8_t **out, size_t *out_size,
                                     char *message, size_t message_capacity) {
    *out = NULL;
    *out_size = 0;
    if (!TIFFIsCODECConfigured(compression)) {
        tanba_set_message(message, message_capacity, "compression scheme not available in this libtiff");
        return TANBA_CODEC_UNSUPPORTED;
    }
    tanba_buffer output = {NULL, 0, 0, 0};
    tiff_stream stream = {NULL, &output, 0, 0, {0}};
    TIFF *tiff = open_stream(&stream, "w");
    if (tiff == NULL) return fail(&stream, "cannot create a TIFF", TANBA_CODEC_FAILED, message, message_capacity);

    const uint16_t samples = layout == TANBA_TIFF_RGB8 ? 3 : 1;
    const uint16_t bits = layout == TANBA_TIFF_GRAY16 ? 16 : 8;
    const uint16_t photometric = layout == TANBA_TIFF_RGB8 ? PHOTOMETRIC_RGB
                               : layout == TANBA_TIFF_PALETTE8 ? PHOTOMETRIC_PALETTE : PHOTOMETRIC_MINISBLACK;
    TIFFSetField(tiff, TIFFTAG_IMAGEWIDTH, width);
    TIFFSetField(tiff, TIFFTAG_IMAGELENGTH, height);
    TIFFSetField(tiff, TIFFTAG_SAMPLESPERPIXEL, samples);
    TIFFSetField(tiff, TIFFTAG_BITSPERSAMPLE, bits);
    TIFFSetField(tiff, TIFFTAG_PHOTOMETRIC, photometric);
    TIFFSetField(tiff, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tiff, TIFFTAG_COMPRESSION, compression);
    // Several strips, so readers are exercised across strip boundaries.
    TIFFSetField(tiff, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tiff, 0));
    if (dpi > 0) {
        TIFFSetField(tiff, TIFFTAG_XRESOLUTION, dpi);
        TIFFSetField(tiff, TIFFTAG_YRESOLUTION, dpi);
        TIFFSetField(tiff, TIFFTAG_RESOLUTIONUNIT, RESUNIT_INCH);
    }
    if (layout == TANBA_TIFF_PALETTE8) {
        // Reversed on purpose: an identity map would also pass if the reader ignored it.
        uint16_t map[256];
        for (int i = 0; i < 256; i++) map[i] = (uint16_t)((255 - i) * 257);
        TIFFSetField(tiff, TIFFTAG_COLORMAP, map, map, map);
    }

    const size_t row_bytes = (size_t)width * samples * (bits / 8);
    uint8_t *row = malloc(row_bytes);
    int ok = row != NULL;
    for (uint32_t y = 0; ok && y < height; y++) {
        const uint8_t *source = pixels + (size_t)y * width;
        for (uint32_t x = 0; x < width; x++) {
            uint8_t v = source[x];
            switch (layout) {
            case TANBA_TIFF_GRAY8: row[x] = v; break;
            case TANBA_TIFF_GRAY16: ((uint16_t *)row)[x] = (uint16_t)(v * 257); break; // native order; libtiff records it
            case TANBA_TIFF_PALETTE8: row[x] = (uint8_t)(255 - v); break;
            case TANBA_TIFF_RGB8: row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = v; break;
            }
        }
        ok = TIFFWriteScanline(tiff, row, y, 0) == 1;
    }
    free(row);
    ok = ok && TIFFFlush(tiff); // writes the directory
    TIFFClose(tiff);
    if (!ok || stream.error[0] != '\0') {
        free(output.data);
        return fail(&stream, "cannot write the TIFF", TANBA_CODEC_FAILED, message, message_capacity);
    }
    *out = output.data;
    *out_size = output.size;
    return TANBA_CODEC_OK;
}
