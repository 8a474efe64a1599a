/* check_emul.c - placeholder, replaced below */
#include <stdlib.h>
int main(void) { return EXIT_SUCCESS; }
