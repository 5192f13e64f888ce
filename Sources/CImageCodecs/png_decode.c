// PNG decoding through libpng. libpng reports errors with longjmp, which must never unwind
// through Swift frames, so every libpng call lives here behind setjmp.
#include "CImageCodecs.h"
#include "png_errors.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    TesseraPNGInfo *info;
} PNGSource;

static void png_read_from_memory(png_structp png, png_bytep out, png_size_t length) {
    PNGSource *source = (PNGSource *)png_get_io_ptr(png);
    if (length > source->size - source->offset) {
        png_error(png, "unexpected end of data (file is truncated)");
    }
    memcpy(out, source->data + source->offset, length);
    source->offset += length;
}

// Sets up the expansion transforms and fills `info` with the resulting output layout.
static void png_configure(png_structp png, png_infop header, TesseraPNGInfo *info) {
    png_read_info(png, header);
    info->width = png_get_image_width(png, header);
    info->height = png_get_image_height(png, header);
    info->color_type = png_get_color_type(png, header);
    info->bit_depth = png_get_bit_depth(png, header);
    info->interlaced = png_get_interlace_type(png, header) != PNG_INTERLACE_NONE;
    info->alpha_from_trns = 0;

    if (info->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
    }
    if (info->color_type == PNG_COLOR_TYPE_GRAY && info->bit_depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    if (png_get_valid(png, header, PNG_INFO_tRNS)) {
        png_set_tRNS_to_alpha(png);
        info->alpha_from_trns = 1;
    }
    if (info->interlaced) {
        png_set_interlace_handling(png);
    }
    png_read_update_info(png, header);
    info->channels = png_get_channels(png, header);
    info->sample_bits = png_get_bit_depth(png, header);
}

static png_structp png_create(PNGSource *source, png_infop *header) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, source->info->message, tessera_png_on_error, tessera_png_on_warning);
    if (!png) {
        return NULL;
    }
    *header = png_create_info_struct(png);
    if (!*header) {
        png_destroy_read_struct(&png, NULL, NULL);
        return NULL;
    }
    png_set_read_fn(png, source, png_read_from_memory);
    return png;
}

// Reads the header and, with `decode_pixels`, the image into `out`. Both entry points share this one
// function so that every libpng call that can fail runs inside the frame that called setjmp.
static int png_read(const uint8_t *data, size_t size, int decode_pixels, uint8_t *out, size_t capacity,
                    TesseraPNGInfo *info) {
    memset(info, 0, sizeof(*info));
    PNGSource source = {data, size, 0, info};
    png_infop header = NULL;
    png_structp png = png_create(&source, &header);
    if (!png) {
        snprintf(info->message, TESSERA_CODEC_MESSAGE_LENGTH, "out of memory");
        return -1;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        png_destroy_read_struct(&png, &header, NULL);
        return -1;
    }
    png_configure(png, header, info);
    if (!decode_pixels) {
        png_destroy_read_struct(&png, &header, NULL);
        return 0;
    }
    size_t row_bytes = png_get_rowbytes(png, header);
    if (info->height == 0 || row_bytes > capacity / info->height) {
        png_error(png, "output buffer too small for the decoded image");
    }
    rows = malloc(sizeof(png_bytep) * info->height);
    if (!rows) {
        png_error(png, "out of memory");
    }
    for (uint32_t y = 0; y < info->height; y++) {
        rows[y] = out + (size_t)y * row_bytes;
    }
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &header, NULL);
    return 0;
}

int tessera_png_read_info(const uint8_t *data, size_t size, TesseraPNGInfo *info) {
    return png_read(data, size, 0, NULL, 0, info);
}

int tessera_png_decode(const uint8_t *data, size_t size, uint8_t *out, size_t capacity, TesseraPNGInfo *info) {
    return png_read(data, size, 1, out, capacity, info);
}
