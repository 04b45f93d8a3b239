#ifndef CONFAB_COPENBLAS_SHIM_H
#define CONFAB_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
