/* fetch_main.h: the entry of `satchel fetch` for main.c. */
#ifndef SATCHEL_FETCH_MAIN_H
#define SATCHEL_FETCH_MAIN_H

/* argv[0] is "fetch". Returns the exit status (sysexits, fetch.h). */
int fetch_main(int argc, char **argv);

#endif
