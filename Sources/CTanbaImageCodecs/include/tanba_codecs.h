#ifndef TANBA_CODECS_H
#define TANBA_CODECS_H
// Thin wrappers over libpng, libtiff and libturbojpeg for TanbaImaging.
//
// Why C at all: libtiff's TIFFGetField/TIFFSetField are variadic, libpng's classic API reports
// errors by longjmp, and all three want callbacks; none of that can be written safely in Swift.
// The wrappers are stateless and never abort or print: every function returns a tanba_codec_status
// and, on failure, a NUL-terminated message in the caller's `message` buffer.
//
// Decoding is two calls so that the caller can check the image size against its limits before
// allocating anything: *_read_header reports the size, *_decode_gray fills a caller-owned buffer
// of exactly width*height bytes (8-bit gray, row-major, top row first).
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TANBA_CODEC_OK = 0,
    TANBA_CODEC_CORRUPT = 1,     ///< the library rejected the data
    TANBA_CODEC_UNSUPPORTED = 2, ///< valid data the library cannot turn into gray pixels
    TANBA_CODEC_FAILED = 3,      ///< out of memory or a misuse of these wrappers
} tanba_codec_status;

/// What a header says. Resolution is reported as stored, in TIFF's terms (PNG pHYs and JPEG
/// JFIF density are parsed by the Swift side, which reads those containers directly).
typedef struct {
    uint32_t width;
    uint32_t height;
    double x_resolution;      ///< pixels per resolution unit; 0 when absent
    double y_resolution;
    uint16_t resolution_unit; ///< 1 = none, 2 = inch, 3 = centimetre (TIFF RESOLUTIONUNIT)
} tanba_image_info;

/// Frees memory returned by the encoders.
void tanba_codecs_free(void *pointer);

// MARK: PNG (libpng; simplified API for reading, classic API for writing because only it
// writes the pHYs chunk)

tanba_codec_status tanba_png_read_header(const uint8_t *data, size_t size, tanba_image_info *info,
                                         char *message, size_t message_capacity);
/// Any PNG (palette, gray+alpha, RGB(A), 1..16 bits, interlaced) converted to 8-bit gray;
/// transparent pixels are composited onto white, the colour of paper, and 16-bit samples of a
/// file without gamma information are taken on the same scale as 8-bit ones.
tanba_codec_status tanba_png_decode_gray(const uint8_t *data, size_t size, uint8_t *pixels,
                                         uint32_t width, uint32_t height,
                                         char *message, size_t message_capacity);
/// 8-bit gray PNG; a pHYs chunk is written when pixels_per_metre > 0.
/// On success *out (free with tanba_codecs_free) holds *out_size bytes.
tanba_codec_status tanba_png_encode_gray(const uint8_t *pixels, uint32_t width, uint32_t height,
                                         uint32_t pixels_per_metre, uint8_t **out, size_t *out_size,
                                         char *message, size_t message_capacity);

// MARK: TIFF (libtiff, first image of the file)

tanba_codec_status tanba_tiff_read_header(const uint8_t *data, size_t size, tanba_image_info *info,
                                          char *message, size_t message_capacity);
/// Anything TIFFRGBAImage understands (any compression libtiff was built with; bilevel, gray,
/// palette, RGB, YCbCr, 1..16 bits), orientation applied, colour reduced with tanba_luma.
tanba_codec_status tanba_tiff_decode_gray(const uint8_t *data, size_t size, uint8_t *pixels,
                                          uint32_t width, uint32_t height,
                                          char *message, size_t message_capacity);

/// Sample layouts the encoder can write (it exists to make test fixtures of every kind the
/// decoder must handle, from the same gray pixels).
typedef enum {
    TANBA_TIFF_GRAY8 = 0,    ///< MinIsBlack, 8 bits
    TANBA_TIFF_GRAY16 = 1,   ///< MinIsBlack, 16 bits (v * 257)
    TANBA_TIFF_PALETTE8 = 2, ///< 8-bit indices into a reversed gray colour map (index = 255 - v)
    TANBA_TIFF_RGB8 = 3,     ///< R = G = B = v
} tanba_tiff_layout;

/// `compression` is a TIFF COMPRESSION_* code (1 none, 5 LZW, 8 Deflate, 32773 PackBits).
/// Resolution tags are written (inches) when dpi > 0.
tanba_codec_status tanba_tiff_encode(const uint8_t *pixels, uint32_t width, uint32_t height,
                                     tanba_tiff_layout layout, uint16_t compression, double dpi,
                                     uint8_t **out, size_t *out_size,
                                     char *message, size_t message_capacity);

// MARK: JPEG (libturbojpeg)

tanba_codec_status tanba_jpeg_read_header(const uint8_t *data, size_t size, tanba_image_info *info,
                                          char *message, size_t message_capacity);
/// Gray JPEGs as stored; colour JPEGs reduced to their luma channel. Warnings (for example
/// truncated entropy data) are treated as errors: a half-grey fingerprint is worse than none.
tanba_codec_status tanba_jpeg_decode_gray(const uint8_t *data, size_t size, uint8_t *pixels,
                                          uint32_t width, uint32_t height,
                                          char *message, size_t message_capacity);

// MARK: Shared

/// Gray from 8-bit RGB with the ITU-R BT.601 weights JPEG uses for luma, in 8.8 fixed point:
/// (77 R + 150 G + 29 B + 128) >> 8. The weights sum to 256, so R = G = B = v gives back v
/// exactly; fingerprints stored as RGB are gray, and must survive the conversion unchanged.
/// Used by the TIFF wrapper and by the Swift BMP decoder, so both agree.
static inline uint8_t tanba_luma(uint8_t r, uint8_t g, uint8_t b) {
    return (uint8_t)((77u * r + 150u * g + 29u * b + 128u) >> 8);
}

#endif
