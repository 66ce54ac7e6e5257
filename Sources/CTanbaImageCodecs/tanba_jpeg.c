// JPEG through libturbojpeg (TurboJPEG 2 API, as shipped by Debian 12). TurboJPEG installs its
// own libjpeg error manager, which longjmps back instead of exiting and formats messages into
// the handle instead of printing them, so these wrappers only translate its status.
#include "tanba_codecs.h"
#include "codecs_internal.h"
#include <turbojpeg.h>

static tanba_codec_status report(tjhandle handle, tanba_codec_status status, char *message, size_t message_capacity) {
    tanba_set_message(message, message_capacity, tjGetErrorStr2(handle));
    tjDestroy(handle);
    return status;
}

tanba_codec_status tanba_jpeg_read_header(const uint8_t *data, size_t size, tanba_image_info *info,
                                          char *message, size_t message_capacity) {
    tjhandle handle = tjInitDecompress();
    if (handle == NULL) {
        tanba_set_message(message, message_capacity, tjGetErrorStr2(NULL));
        return TANBA_CODEC_FAILED;
    }
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    if (tjDecompressHeader3(handle, data, (unsigned long)size, &width, &height, &subsampling, &colorspace) != 0)
        return report(handle, TANBA_CODEC_CORRUPT, message, message_capacity);
    tjDestroy(handle);
    if (width <= 0 || height <= 0) {
        tanba_set_message(message, message_capacity, "JPEG with an empty frame");
        return TANBA_CODEC_CORRUPT;
    }
    memset(info, 0, sizeof *info);
    info->width = (uint32_t)width;
    info->height = (uint32_t)height;
    info->resolution_unit = 1;
    return TANBA_CODEC_OK;
}

tanba_codec_status tanba_jpeg_decode_gray(const uint8_t *data, size_t size, uint8_t *pixels,
                                          uint32_t width, uint32_t height,
                                          char *message, size_t message_capacity) {
    if (width > INT32_MAX || height > INT32_MAX) {
        tanba_set_message(message, message_capacity, "JPEG size out of range");
        return TANBA_CODEC_FAILED;
    }
    tjhandle handle = tjInitDecompress();
    if (handle == NULL) {
        tanba_set_message(message, message_capacity, tjGetErrorStr2(NULL));
        return TANBA_CODEC_FAILED;
    }
    // STOPONWARNING: libjpeg "recovers" from damaged data by filling grey; LIMITSCANS: refuse
    // progressive files with absurd scan counts (a known way to make decoding take minutes).
    const int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    if (tjDecompress2(handle, data, (unsigned long)size, pixels, (int)width, (int)width, (int)height, TJPF_GRAY, flags) != 0) {
        // CMYK and other colour spaces without a gray conversion surface here too; libjpeg
        // words those as "Unsupported color conversion request".
        const char *text = tjGetErrorStr2(handle);
        tanba_codec_status status = strstr(text, "Unsupported") != NULL ? TANBA_CODEC_UNSUPPORTED : TANBA_CODEC_CORRUPT;
        return report(handle, status, message, message_capacity);
    }
    tjDestroy(handle);
    return TANBA_CODEC_OK;
}
