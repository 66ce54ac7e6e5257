#ifndef TANBA_FPRINT_H
#define TANBA_FPRINT_H
#include <stdint.h>
#include <stddef.h>

/// One minutia as libfprint's NBIS detector reports it.
typedef struct {
    int32_t x, y;          ///< pixel coordinates, origin top-left
    int32_t direction;     ///< 0..31, 11.25° steps, NBIS convention (0 = vertical up, clockwise)
    double reliability;    ///< 0..1
    int32_t type;          ///< NBIS: 0 = bifurcation, 1 = ridge ending
} tanba_fp_minutia;

/// Returns 0 when the pinned private layouts of FpImage and fp_minutia match this libfprint.
int tanba_fprint_selfcheck(char *err, size_t errlen);

/// Detects minutiae on an 8-bit grayscale image (row-major, width*height bytes) at the given
/// resolution in pixels per millimetre. Thread-safe: each call runs its own GLib main context.
/// Writes at most `capacity` minutiae to `out` and the number detected to `count`.
/// Returns 0 on success, -1 on failure with a message in `err`.
int tanba_fprint_detect(const uint8_t *gray, int32_t width, int32_t height, double ppmm,
                        tanba_fp_minutia *out, int32_t capacity, int32_t *count,
                        char *err, size_t errlen);
#endif
