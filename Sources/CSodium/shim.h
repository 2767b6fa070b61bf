#ifndef CERTVAULT_CSODIUM_H
#define CERTVAULT_CSODIUM_H
#include <sodium.h>
#endif
