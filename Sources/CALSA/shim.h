#ifndef CONFAB_CALSA_SHIM_H
#define CONFAB_CALSA_SHIM_H
#include <alsa/asoundlib.h>
#include <stdarg.h>

// ALSA's error handler is C-variadic, which Swift cannot define: keep "ALSA lib ..." lines
// off the terminal (and off the ncurses screen) from here. Confab reports errors itself.
static void confab_alsa_quiet_handler(const char *file, int line, const char *function, int err, const char *fmt, ...) {
    (void)file; (void)line; (void)function; (void)err; (void)fmt;
}
static inline void confab_alsa_silence_errors(void) {
    snd_lib_error_set_handler(confab_alsa_quiet_handler);
}
#endif
