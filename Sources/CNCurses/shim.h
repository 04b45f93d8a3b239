#ifndef CONFAB_CNCURSES_SHIM_H
#define CONFAB_CNCURSES_SHIM_H
// ncursesw's .pc carries -D flags SwiftPM drops, so define them here.
#define _XOPEN_SOURCE_EXTENDED 1
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <wchar.h>
#include <ncursesw/ncurses.h>

int wcwidth(wchar_t c);

// stdscr, LINES, COLS are mutable globals and COLOR_PAIR/A_* are macros: Swift 6 needs getters.
static inline WINDOW *confab_stdscr(void) { return stdscr; }
static inline int confab_lines(void) { return LINES; }
static inline int confab_cols(void) { return COLS; }
static inline int confab_colors(void) { return COLORS; }
static inline int confab_color_pair(int n) { return (int)COLOR_PAIR(n); }
static inline int confab_a_bold(void) { return (int)A_BOLD; }
static inline int confab_a_dim(void) { return (int)A_DIM; }
static inline int confab_a_reverse(void) { return (int)A_REVERSE; }
static inline int confab_a_normal(void) { return (int)A_NORMAL; }
#endif
