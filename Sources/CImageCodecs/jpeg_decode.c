// JPEG decoding through libjpeg(-turbo). libjpeg reports errors by calling error_exit, which
// must not return; it longjmps back here so no Swift frame is ever unwound.
#include "CImageCodecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    TesseraJPEGInfo *info;
} JPEGErrorManager;

static void jpeg_on_error(j_common_ptr cinfo) {
    JPEGErrorManager *manager = (JPEGErrorManager *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    snprintf(manager->info->message, TESSERA_CODEC_MESSAGE_LENGTH, "%s", buffer);
    longjmp(manager->jump, 1);
}

// Pillow refuses truncated JPEGs; libjpeg only warns and pads with gray, so that warning is fatal here.
// Other warnings (extraneous bytes, bad Huffman codes) are tolerated as Pillow tolerates them.
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        jpeg_on_error(cinfo);
    }
}

static void jpeg_fill_info(struct jpeg_decompress_struct *cinfo, TesseraJPEGInfo *info) {
    info->width = cinfo->image_width;
    info->height = cinfo->image_height;
    info->components = cinfo->num_components;
    info->color_space = cinfo->jpeg_color_space;
    info->progressive = cinfo->progressive_mode;
}

// Reads the header and, with `decode_pixels`, the image into `out`. Both entry points share this one
// function so that every libjpeg call that can fail runs inside the frame that called setjmp.
static int jpeg_read(const uint8_t *data, size_t size, int decode_pixels, uint8_t *out, size_t capacity,
                     TesseraJPEGInfo *info) {
    memset(info, 0, sizeof(*info));
    struct jpeg_decompress_struct cinfo;
    JPEGErrorManager manager;
    cinfo.err = jpeg_std_error(&manager.base);
    manager.base.error_exit = jpeg_on_error;
    manager.base.emit_message = jpeg_on_message;
    manager.info = info;
    if (setjmp(manager.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    jpeg_fill_info(&cinfo, info);
    if (!decode_pixels) {
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }

    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    default:
        snprintf(info->message, TESSERA_CODEC_MESSAGE_LENGTH, "unsupported JPEG colour space %d",
                 (int)cinfo.jpeg_color_space);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }

    jpeg_start_decompress(&cinfo);
    size_t row_bytes = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    if (cinfo.output_height == 0 || row_bytes > capacity / cinfo.output_height) {
        snprintf(info->message, TESSERA_CODEC_MESSAGE_LENGTH, "output buffer too small for the decoded image");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + (size_t)cinfo.output_scanline * row_bytes;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}

int tessera_jpeg_read_info(const uint8_t *data, size_t size, TesseraJPEGInfo *info) {
    return jpeg_read(data, size, 0, NULL, 0, info);
}

int tessera_jpeg_decode(const uint8_t *data, size_t size, uint8_t *out, size_t capacity, TesseraJPEGInfo *info) {
    return jpeg_read(data, size, 1, out, capacity, info);
}
