#ifndef TESSERA_CIMAGECODECS_H
#define TESSERA_CIMAGECODECS_H

#include <stddef.h>
#include <stdint.h>

/// Size of the buffers that receive libpng / libjpeg error messages.
#define TESSERA_CODEC_MESSAGE_LENGTH 200

/// What a PNG decodes to after palette, low-bit-depth and tRNS expansion.
typedef struct {
    uint32_t width;
    uint32_t height;
    /// PNG colour type as stored in IHDR (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA).
    int color_type;
    /// Bit depth as stored in IHDR (1, 2, 4, 8 or 16).
    int bit_depth;
    int interlaced;
    /// Samples per output pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
    int channels;
    /// Bits per output sample: 8, or 16 (big-endian) when the file stores 16-bit samples.
    int sample_bits;
    /// Whether alpha came from a tRNS chunk rather than an alpha channel.
    int alpha_from_trns;
    char message[TESSERA_CODEC_MESSAGE_LENGTH];
} TesseraPNGInfo;

/// Reads the PNG header. Returns 0 on success, -1 with `info->message` set on failure.
int tessera_png_read_info(const uint8_t *data, size_t size, TesseraPNGInfo *info);

/// Decodes the whole PNG into `out` (rows packed, `width * channels * sample_bits / 8` bytes each).
/// Returns 0 on success, -1 with `info->message` set on failure (including `capacity` too small).
int tessera_png_decode(const uint8_t *data, size_t size, uint8_t *out, size_t capacity, TesseraPNGInfo *info);

/// Encodes 8-bit RGB (`channels` 3) or RGBA (4) pixels, rows packed top to bottom, as a PNG in
/// memory. On success returns 0 with `*out` (release with `tessera_png_free`) and `*out_size` set;
/// on failure returns -1 with `message` (TESSERA_CODEC_MESSAGE_LENGTH bytes) set.
int tessera_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                       uint8_t **out, size_t *out_size, char *message);

/// Releases a buffer `tessera_png_encode` returned.
void tessera_png_free(uint8_t *data);

/// A JPEG's frame header.
typedef struct {
    uint32_t width;
    uint32_t height;
    /// Components in the frame (1 gray, 3 YCbCr/RGB, 4 CMYK/YCCK).
    int components;
    /// libjpeg's J_COLOR_SPACE guess for the file (JCS_CMYK = 4, JCS_YCCK = 5).
    int color_space;
    int progressive;
    char message[TESSERA_CODEC_MESSAGE_LENGTH];
} TesseraJPEGInfo;

/// libjpeg colour-space codes the Swift side needs to recognise.
enum {
    TESSERA_JCS_GRAYSCALE = 1,
    TESSERA_JCS_RGB = 2,
    TESSERA_JCS_YCBCR = 3,
    TESSERA_JCS_CMYK = 4,
    TESSERA_JCS_YCCK = 5
};

/// Reads the JPEG header. Returns 0 on success, -1 with `info->message` set on failure.
int tessera_jpeg_read_info(const uint8_t *data, size_t size, TesseraJPEGInfo *info);

/// Decodes a grayscale (1 byte per pixel) or colour (RGB, 3 bytes per pixel) JPEG into `out`.
/// Truncated data is an error, as in Pillow. Returns 0 on success, -1 with `info->message` set.
int tessera_jpeg_decode(const uint8_t *data, size_t size, uint8_t *out, size_t capacity, TesseraJPEGInfo *info);

#endif
