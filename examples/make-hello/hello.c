#include <stdio.h>

int main(void) {
    puts("hello from a make project");
    return 0;
}
