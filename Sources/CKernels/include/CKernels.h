#ifndef TESSERA_CKERNELS_H
#define TESSERA_CKERNELS_H
#include <stddef.h>
#include <stdint.h>
#endif
