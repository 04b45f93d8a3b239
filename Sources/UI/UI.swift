// The ncurses front end lives here.
