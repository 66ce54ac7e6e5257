// Thin, synchronous wrapper around libfprint's minutiae detector (NBIS mindtct inside).
//
// libfprint 1.94.5 exposes only minutia coordinates and has no setter for the image
// resolution. Both the resolution (FpImage.ppmm) and the full minutia record (direction,
// reliability, type) live in private structs whose layouts are mirrored here. The mirror
// is pinned to libfprint 1.94.x and verified at run time by tanba_fprint_selfcheck():
// the public getters must read back what the mirror wrote.
#include "tanba_fprint.h"
#include <fprint.h>
#include <string.h>
#include <stdio.h>

// Mirror of struct _FpImage (libfprint/fpi-image.h, 1.94.x).
struct tanba_fp_image_mirror {
    GObject parent;
    guint width;
    guint height;
    gdouble ppmm;
    guint flags;
    guint8 *data;
    guint8 *binarized;
    GPtrArray *minutiae;
    guint ref_count;
};

// Mirror of struct fp_minutia (libfprint/nbis/include/lfs.h MINUTIA).
struct tanba_nbis_minutia {
    int x, y, ex, ey, direction;
    double reliability;
    int type, appearing, feature_id;
    int *nbrs, *ridge_counts;
    int num_nbrs;
};

typedef struct { gboolean done; gboolean ok; GError *error; } detect_state;

static void on_detected(GObject *source, GAsyncResult *res, gpointer user) {
    detect_state *st = user;
    st->ok = fp_image_detect_minutiae_finish(FP_IMAGE(source), res, &st->error);
    st->done = TRUE;
}

int tanba_fprint_selfcheck(char *err, size_t errlen) {
    FpImage *img = fp_image_new(37, 53);
    if (!img) { snprintf(err, errlen, "fp_image_new failed"); return -1; }
    struct tanba_fp_image_mirror *m = (struct tanba_fp_image_mirror *)img;
    int rc = 0;
    if (m->width != 37 || m->height != 53 || fp_image_get_width(img) != 37) {
        snprintf(err, errlen, "libfprint FpImage layout differs from the pinned 1.94 layout (width/height)");
        rc = -1;
    } else {
        m->ppmm = 19.685;
        if (fp_image_get_ppmm(img) != 19.685) {
            snprintf(err, errlen, "libfprint FpImage layout differs from the pinned 1.94 layout (ppmm)");
            rc = -1;
        }
        gsize len = 0;
        const guchar *d = fp_image_get_data(img, &len);
        if (rc == 0 && (d != m->data || len != 37 * 53)) {
            snprintf(err, errlen, "libfprint FpImage layout differs from the pinned 1.94 layout (data)");
            rc = -1;
        }
    }
    g_object_unref(img);
    return rc;
}

int tanba_fprint_detect(const uint8_t *gray, int32_t width, int32_t height, double ppmm,
                        tanba_fp_minutia *out, int32_t capacity, int32_t *count,
                        char *err, size_t errlen) {
    *count = 0;
    if (width <= 0 || height <= 0 || width > 8192 || height > 8192) {
        snprintf(err, errlen, "image size %dx%d out of range", width, height);
        return -1;
    }
    FpImage *img = fp_image_new(width, height);
    if (!img) { snprintf(err, errlen, "fp_image_new failed"); return -1; }
    struct tanba_fp_image_mirror *m = (struct tanba_fp_image_mirror *)img;
    if (m->width != (guint)width || m->height != (guint)height) {
        g_object_unref(img);
        snprintf(err, errlen, "libfprint FpImage layout differs from the pinned 1.94 layout");
        return -1;
    }
    gsize len = 0;
    guchar *data = (guchar *)fp_image_get_data(img, &len);
    if (len != (gsize)width * (gsize)height) {
        g_object_unref(img);
        snprintf(err, errlen, "unexpected FpImage buffer size");
        return -1;
    }
    memcpy(data, gray, len);
    m->ppmm = ppmm;

    // A private main context per call makes concurrent detections on several threads safe:
    // the GTask delivers its callback to the thread-default context of the caller.
    GMainContext *ctx = g_main_context_new();
    g_main_context_push_thread_default(ctx);
    detect_state st = { FALSE, FALSE, NULL };
    fp_image_detect_minutiae(img, NULL, on_detected, &st);
    while (!st.done) g_main_context_iteration(ctx, TRUE);
    g_main_context_pop_thread_default(ctx);
    g_main_context_unref(ctx);

    int rc = 0;
    if (!st.ok) {
        snprintf(err, errlen, "minutiae detection failed: %s", st.error ? st.error->message : "unknown error");
        if (st.error) g_error_free(st.error);
        rc = -1;
    } else {
        GPtrArray *arr = fp_image_get_minutiae(img);
        int32_t n = arr ? (int32_t)arr->len : 0;
        *count = n;
        for (int32_t i = 0; i < n && i < capacity; i++) {
            const struct tanba_nbis_minutia *src = g_ptr_array_index(arr, i);
            out[i].x = src->x;
            out[i].y = src->y;
            out[i].direction = src->direction;
            out[i].reliability = src->reliability;
            out[i].type = src->type;
        }
    }
    g_object_unref(img);
    return rc;
}
