#ifndef TOKENTRAIL_CMAXMINDDB_SHIM_H
#define TOKENTRAIL_CMAXMINDDB_SHIM_H
#include <maxminddb.h>
#include <sys/socket.h>
#include <netinet/in.h>
#endif
