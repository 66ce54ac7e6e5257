#ifndef TANBA_CAPTURE_H
#define TANBA_CAPTURE_H
#include <stdint.h>
#include <stddef.h>

/// An open libfprint device (and the context it came from). Opaque to Swift.
typedef struct tanba_capture_device tanba_capture_device;

/// Lists the devices libfprint finds, one "driver<TAB>name<TAB>capture(0|1)" line each.
/// When `virtual_image_socket` is not NULL, FP_VIRTUAL_IMAGE is set to it first, which
/// adds the `virtual_image` test device. Returns the number of devices, -1 on error.
int tanba_capture_list(const char *virtual_image_socket, char *out, size_t outlen, char *err, size_t errlen);

/// Opens device number `index` (in libfprint's order) or, when `driver` is not NULL, the
/// first device of that driver. Synchronous; 0 on success.
int tanba_capture_open(const char *virtual_image_socket, const char *driver, int index,
                       tanba_capture_device **out, char *name, size_t namelen, char *err, size_t errlen);

/// Captures one image (blocks until a finger is placed when wait_for_finger is 1).
/// `*pixels` is malloc'ed (free with tanba_capture_free). `ppmm` is 0 when the driver does not say.
int tanba_capture_image(tanba_capture_device *device, int wait_for_finger, uint8_t **pixels,
                        int32_t *width, int32_t *height, double *ppmm, char *err, size_t errlen);

void tanba_capture_free(void *p);
void tanba_capture_close(tanba_capture_device *device);
#endif
