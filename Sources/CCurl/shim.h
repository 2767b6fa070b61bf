#ifndef CERTVAULT_CCURL_H
#define CERTVAULT_CCURL_H
#include <curl/curl.h>
#endif
