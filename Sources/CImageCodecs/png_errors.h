// libpng's error and warning callbacks, shared by the PNG decoder and encoder. Create each libpng
// struct with a TESSERA_CODEC_MESSAGE_LENGTH buffer as its error pointer: an error's text goes there
// and libpng jumps back to the setjmp of the call in progress. Warnings are dropped.
#ifndef TESSERA_PNG_ERRORS_H
#define TESSERA_PNG_ERRORS_H

#include <png.h>

void tessera_png_on_error(png_structp png, png_const_charp message);
void tessera_png_on_warning(png_structp png, png_const_charp message);

#endif
