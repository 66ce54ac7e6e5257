// libfprint device access for the capture station: context, device open, image capture.
//
// libfprint's *_sync calls iterate GLib's global default main context, and the devices'
// sources are attached to it, so every call here runs under one process-wide lock: one
// device operation at a time, from whichever thread calls. (Minutiae detection in
// CTanbaFPrint uses private main contexts and does not take this lock.)
#include "tanba_capture.h"
#include <fprint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tanba_capture_device {
    FpContext *context;
    FpDevice *device;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void set_error(char *err, size_t errlen, const char *what, GError *e) {
    snprintf(err, errlen, "%s: %s", what, e ? e->message : "unknown error");
    if (e) g_error_free(e);
}

static FpContext *new_context(const char *socket_path) {
    if (socket_path) g_setenv("FP_VIRTUAL_IMAGE", socket_path, TRUE);
    return fp_context_new();
}

int tanba_capture_list(const char *virtual_image_socket, char *out, size_t outlen, char *err, size_t errlen) {
    pthread_mutex_lock(&lock);
    FpContext *ctx = new_context(virtual_image_socket);
    if (!ctx) { pthread_mutex_unlock(&lock); snprintf(err, errlen, "fp_context_new failed"); return -1; }
    GPtrArray *devices = fp_context_get_devices(ctx);
    int n = devices ? (int)devices->len : 0;
    size_t used = 0;
    if (outlen) out[0] = 0;
    for (int i = 0; i < n; i++) {
        FpDevice *d = g_ptr_array_index(devices, i);
        int w = snprintf(out + used, used < outlen ? outlen - used : 0, "%s\t%s\t%d\n",
                         fp_device_get_driver(d), fp_device_get_name(d),
                         fp_device_has_feature(d, FP_DEVICE_FEATURE_CAPTURE) ? 1 : 0);
        if (w > 0) used += (size_t)w;
    }
    g_object_unref(ctx);
    pthread_mutex_unlock(&lock);
    return n;
}

int tanba_capture_open(const char *virtual_image_socket, const char *driver, int index,
                       tanba_capture_device **out, char *name, size_t namelen, char *err, size_t errlen) {
    *out = NULL;
    pthread_mutex_lock(&lock);
    FpContext *ctx = new_context(virtual_image_socket);
    if (!ctx) { pthread_mutex_unlock(&lock); snprintf(err, errlen, "fp_context_new failed"); return -1; }
    GPtrArray *devices = fp_context_get_devices(ctx);
    FpDevice *chosen = NULL;
    int n = devices ? (int)devices->len : 0;
    for (int i = 0, k = 0; i < n; i++) {
        FpDevice *d = g_ptr_array_index(devices, i);
        if (driver && strcmp(fp_device_get_driver(d), driver) != 0) continue;
        if (driver || k == index) { chosen = d; break; }
        k++;
    }
    if (!chosen) {
        g_object_unref(ctx);
        pthread_mutex_unlock(&lock);
        snprintf(err, errlen, "no fingerprint device %s%s found (%d device(s) present)",
                 driver ? "with driver " : "", driver ? driver : "at that index", n);
        return -1;
    }
    if (!fp_device_has_feature(chosen, FP_DEVICE_FEATURE_CAPTURE)) {
        g_object_unref(ctx);
        pthread_mutex_unlock(&lock);
        snprintf(err, errlen, "device %s cannot capture images", fp_device_get_driver(chosen));
        return -1;
    }
    GError *e = NULL;
    if (!fp_device_open_sync(chosen, NULL, &e)) {
        g_object_unref(ctx);
        pthread_mutex_unlock(&lock);
        set_error(err, errlen, "cannot open the fingerprint device", e);
        return -1;
    }
    snprintf(name, namelen, "%s (%s)", fp_device_get_name(chosen), fp_device_get_driver(chosen));
    struct tanba_capture_device *dev = calloc(1, sizeof *dev);
    dev->context = ctx;
    dev->device = g_object_ref(chosen);
    *out = dev;
    pthread_mutex_unlock(&lock);
    return 0;
}

int tanba_capture_image(tanba_capture_device *device, int wait_for_finger, uint8_t **pixels,
                        int32_t *width, int32_t *height, double *ppmm, char *err, size_t errlen) {
    *pixels = NULL;
    pthread_mutex_lock(&lock);
    GError *e = NULL;
    FpImage *img = fp_device_capture_sync(device->device, wait_for_finger ? TRUE : FALSE, NULL, &e);
    if (!img) {
        pthread_mutex_unlock(&lock);
        set_error(err, errlen, "capture failed", e);
        return -1;
    }
    gsize len = 0;
    const guchar *data = fp_image_get_data(img, &len);
    guint w = fp_image_get_width(img), h = fp_image_get_height(img);
    if (!data || len != (gsize)w * h || w == 0 || h == 0) {
        g_object_unref(img);
        pthread_mutex_unlock(&lock);
        snprintf(err, errlen, "device returned an unusable image (%ux%u, %zu bytes)", w, h, (size_t)len);
        return -1;
    }
    *pixels = malloc(len);
    memcpy(*pixels, data, len);
    *width = (int32_t)w;
    *height = (int32_t)h;
    *ppmm = fp_image_get_ppmm(img);
    g_object_unref(img);
    pthread_mutex_unlock(&lock);
    return 0;
}

void tanba_capture_free(void *p) { free(p); }

void tanba_capture_close(tanba_capture_device *device) {
    if (!device) return;
    pthread_mutex_lock(&lock);
    fp_device_close_sync(device->device, NULL, NULL);
    g_object_unref(device->device);
    g_object_unref(device->context);
    pthread_mutex_unlock(&lock);
    free(device);
}
