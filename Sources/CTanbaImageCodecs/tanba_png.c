// PNG through libpng. Reading uses the simplified API, which accepts every PNG variant and does
// the conversion to 8-bit gray itself (palette expansion, 16-bit reduction, RGB to gray in
// linear light, alpha compositing) and reports errors in png_image.message instead of longjmp.
// Writing uses the classic API: the simplified writer cannot emit a pHYs chunk.
#include "tanba_codecs.h"
#include "codecs_internal.h"
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>

static int begin_read(png_image *image, const uint8_t *data, size_t size,
                      char *message, size_t message_capacity) {
    memset(image, 0, sizeof *image);
    image->version = PNG_IMAGE_VERSION;
    if (png_image_begin_read_from_memory(image, data, size)) return 1;
    tanba_set_message(message, message_capacity, image->message);
    png_image_free(image);
    return 0;
}

tanba_codec_status tanba_png_read_header(const uint8_t *data, size_t size, tanba_image_info *info,
                                         char *message, size_t message_capacity) {
    png_image image;
    if (!begin_read(&image, data, size, message, message_capacity)) return TANBA_CODEC_CORRUPT;
    memset(info, 0, sizeof *info);
    info->width = image.width;
    info->height = image.height;
    info->resolution_unit = 1;
    png_image_free(&image);
    return TANBA_CODEC_OK;
}

tanba_codec_status tanba_png_decode_gray(const uint8_t *data, size_t size, uint8_t *pixels,
                                         uint32_t width, uint32_t height,
                                         char *message, size_t message_capacity) {
    png_image image;
    if (!begin_read(&image, data, size, message, message_capacity)) return TANBA_CODEC_CORRUPT;
    if (image.width != width || image.height != height || width > INT32_MAX) {
        png_image_free(&image);
        tanba_set_message(message, message_capacity, "PNG size differs from the size passed in");
        return TANBA_CODEC_FAILED;
    }
    image.format = PNG_FORMAT_GRAY;
    // Without a gAMA or sRGB chunk, the simplified API takes 16-bit samples for linear light
    // and gamma-encodes them on the way to 8 bits, brightening a 16-bit scan (50 * 257 came
    // out as 121, not 50). Scanners write 16-bit gray on the same scale as 8-bit gray; a file
    // that declares its gamma is still honoured.
    image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    // Without a background libpng composites onto whatever the buffer holds; paper is white.
    const png_color white = {255, 255, 255};
    int ok = png_image_finish_read(&image, &white, pixels, (png_int_32)width, NULL);
    if (!ok) tanba_set_message(message, message_capacity, image.message);
    png_image_free(&image); // finish_read frees on success too; a second call is a no-op
    return ok ? TANBA_CODEC_OK : TANBA_CODEC_CORRUPT;
}

// MARK: Writing

typedef struct {
    tanba_buffer output;
    char *message;
    size_t message_capacity;
} png_write_context;

static void on_png_error(png_structp png, png_const_charp text) {
    png_write_context *context = png_get_error_ptr(png);
    tanba_set_message(context->message, context->message_capacity, text);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp text) {
    (void)png; (void)text; // warnings are not failures and must not reach stderr
}

static void on_png_write(png_structp png, png_bytep bytes, size_t count) {
    png_write_context *context = png_get_io_ptr(png);
    if (!tanba_buffer_write(&context->output, bytes, count)) png_error(png, "out of memory");
}

static void on_png_flush(png_structp png) { (void)png; }

tanba_codec_status tanba_png_encode_gray(const uint8_t *pixels, uint32_t width, uint32_t height,
                                         uint32_t pixels_per_metre, uint8_t **out, size_t *out_size,
                                         char *message, size_t message_capacity) {
    *out = NULL;
    *out_size = 0;
    png_write_context context = {{NULL, 0, 0, 0}, message, message_capacity};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &context, on_png_error, on_png_warning);
    if (png == NULL) {
        tanba_set_message(message, message_capacity, "png_create_write_struct failed");
        return TANBA_CODEC_FAILED;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL || setjmp(png_jmpbuf(png))) {
        // Reached by longjmp from on_png_error; `context` is only changed through pointers.
        if (info == NULL) tanba_set_message(message, message_capacity, "png_create_info_struct failed");
        png_destroy_write_struct(&png, &info);
        free(context.output.data);
        return TANBA_CODEC_FAILED;
    }
    png_set_write_fn(png, &context, on_png_write, on_png_flush);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pixels_per_metre > 0) png_set_pHYs(png, info, pixels_per_metre, pixels_per_metre, PNG_RESOLUTION_METER);
    png_write_info(png, info);
    for (uint32_t y = 0; y < height; y++) png_write_row(png, pixels + (size_t)y * width);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = context.output.data;
    *out_size = context.output.size;
    return TANBA_CODEC_OK;
}
