#ifndef CONFAB_CSNDFILE_SHIM_H
#define CONFAB_CSNDFILE_SHIM_H
#include <sndfile.h>
#endif
