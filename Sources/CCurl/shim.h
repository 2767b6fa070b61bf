#ifndef CERTVAULT_CCURL_H
#define CERTVAULT_CCURL_H
#include <curl/curl.h>
#include <malloc.h> /* malloc_usable_size: the wiping allocator given to libcurl */
#endif
