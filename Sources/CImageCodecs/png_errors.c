#include "png_errors.h"

#include "CImageCodecs.h"

#include <stdio.h>

void tessera_png_on_error(png_structp png, png_const_charp message) {
    snprintf((char *)png_get_error_ptr(png), TESSERA_CODEC_MESSAGE_LENGTH, "%s", message);
    png_longjmp(png, 1);
}

void tessera_png_on_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}
