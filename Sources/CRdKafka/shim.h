#ifndef TOKENTRAIL_CRDKAFKA_SHIM_H
#define TOKENTRAIL_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* rd_kafka_producev is variadic and rd_kafka_vu_t is a union: both are awkward from Swift,
 * so one produce call with every field we use is built here. Header values are copied by
 * librdkafka (RD_KAFKA_VTYPE_HEADER), so nothing's ownership moves. */
static inline rd_kafka_error_t *tt_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                           const void *key, size_t key_len,
                                           const void *value, size_t value_len,
                                           const char *const *header_names,
                                           const void *const *header_values,
                                           const ssize_t *header_sizes, size_t header_count,
                                           int64_t timestamp_ms, void *msg_opaque) {
    rd_kafka_vu_t vus[8 + 64];
    size_t n = 0;
    vus[n].vtype = RD_KAFKA_VTYPE_TOPIC; vus[n].u.cstr = topic; n++;
    vus[n].vtype = RD_KAFKA_VTYPE_PARTITION; vus[n].u.i32 = partition; n++;
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vus[n].u.i = RD_KAFKA_MSG_F_COPY; n++;
    if (key) { vus[n].vtype = RD_KAFKA_VTYPE_KEY; vus[n].u.mem.ptr = (void *)key; vus[n].u.mem.size = key_len; n++; }
    if (value) { vus[n].vtype = RD_KAFKA_VTYPE_VALUE; vus[n].u.mem.ptr = (void *)value; vus[n].u.mem.size = value_len; n++; }
    vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE; vus[n].u.ptr = msg_opaque; n++;
    if (timestamp_ms > 0) { vus[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP; vus[n].u.i64 = timestamp_ms; n++; }
    if (header_count > 64) header_count = 64;
    for (size_t i = 0; i < header_count; i++) {
        vus[n].vtype = RD_KAFKA_VTYPE_HEADER;
        vus[n].u.header.name = header_names[i];
        vus[n].u.header.val = header_values[i];
        vus[n].u.header.size = header_sizes[i];
        n++;
    }
    return rd_kafka_produceva(rk, vus, n);
}

/* The delivery report's per-message opaque (rkmessage->_private) as an integer tag. */
static inline uint64_t tt_message_tag(const rd_kafka_message_t *m) { return (uint64_t)(uintptr_t)m->_private; }
static inline void *tt_tag_pointer(uint64_t tag) { return (void *)(uintptr_t)tag; }

/* librdkafka's mock cluster (tests inject broker errors through it): the per-broker error push is
 * variadic, so one error at a time is pushed here. */
static inline rd_kafka_resp_err_t tt_mock_broker_push_error(rd_kafka_mock_cluster_t *mcluster, int32_t broker_id,
                                                            int16_t api_key, rd_kafka_resp_err_t err, int rtt_ms) {
    return rd_kafka_mock_broker_push_request_error_rtts(mcluster, broker_id, api_key, 1, err, rtt_ms);
}

#endif
