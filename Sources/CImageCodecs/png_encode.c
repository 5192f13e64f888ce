// PNG encoding through libpng, behind setjmp like the decoder (libpng's longjmp must never unwind
// through Swift frames).
#include "CImageCodecs.h"
#include "png_errors.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} PNGSink;

static void png_write_to_memory(png_structp png, png_bytep bytes, png_size_t length) {
    PNGSink *sink = (PNGSink *)png_get_io_ptr(png);
    if (sink->size + length > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity : 4096;
        while (capacity < sink->size + length) capacity *= 2;
        uint8_t *grown = realloc(sink->data, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->data = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->data + sink->size, bytes, length);
    sink->size += length;
}

static void png_flush_memory(png_structp png) { (void)png; }

int tessera_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                       uint8_t **out, size_t *out_size, char *message) {
    PNGSink sink = {NULL, 0, 0};
    *out = NULL;
    *out_size = 0;
    if (channels != 3 && channels != 4) {
        snprintf(message, TESSERA_CODEC_MESSAGE_LENGTH, "unsupported channel count %d", channels);
        return -1;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, message, tessera_png_on_error, tessera_png_on_warning);
    if (!png) {
        snprintf(message, TESSERA_CODEC_MESSAGE_LENGTH, "cannot create the libpng writer");
        return -1;
    }
    png_infop header = png_create_info_struct(png);
    png_bytep *rows = NULL;
    if (!header || setjmp(png_jmpbuf(png))) {
        if (!header) snprintf(message, TESSERA_CODEC_MESSAGE_LENGTH, "cannot create the libpng header");
        png_destroy_write_struct(&png, header ? &header : NULL);
        free(rows);
        free(sink.data);
        return -1;
    }
    png_set_write_fn(png, &sink, png_write_to_memory, png_flush_memory);
    png_set_IHDR(png, header, width, height, 8, channels == 4 ? PNG_COLOR_TYPE_RGBA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    rows = malloc(sizeof(png_bytep) * (height ? height : 1));
    if (!rows) png_error(png, "out of memory");
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(pixels + (size_t)y * width * channels);
    png_set_rows(png, header, rows);
    png_write_png(png, header, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &header);
    free(rows);
    *out = sink.data;
    *out_size = sink.size;
    return 0;
}

void tessera_png_free(uint8_t *data) { free(data); }
