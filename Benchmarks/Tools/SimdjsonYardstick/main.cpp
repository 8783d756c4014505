// The decode yardstick: simdjson On-Demand pulling the fields the rule reads from every line of a
// JSON-lines file of CloudTrail events, one core. Prints MB/s and events/s per iteration's p50 and best.
//
//   SimdjsonYardstick FILE [SECONDS]      (scripts/bench builds it: clang++ -O3 -march=native, pkg-config simdjson)
//
// The file is read once into one padded buffer; each line is parsed in place (the bytes after a line
// are its padding), as a Kafka message copied once into a padded buffer would be. Fields, as
// DetectionRule.fieldsRead and CloudTrailDecoder read them: eventTime, sourceIPAddress, eventSource,
// eventName, eventCategory, awsRegion, recipientAccountId, eventID, userAgent, userIdentity's type,
// arn, accountId and accessKeyId, and userIdentity.sessionContext's sourceIdentity and
// attributes.creationDate (when present); every string is unescaped (and so checked as UTF-8) by get_string.
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <vector>

using namespace simdjson;

static size_t checksum = 0;

static inline void take(ondemand::value v) {
    std::string_view s;
    if (v.get_string().get(s) == SUCCESS) checksum += s.size();
}

// userIdentity.sessionContext: sourceIdentity and attributes.creationDate. A function of its own: inlined
// into read_event, GCC 12 spills the iterators so that every field costs a store-forwarding stall
// (clang++ is not affected either way).
__attribute__((noinline)) static bool read_context(ondemand::value value) {
    ondemand::object context;
    if (value.get_object().get(context) != SUCCESS) return true;
    for (auto part : context) {
        std::string_view label;
        if (part.unescaped_key().get(label) != SUCCESS) return false;
        ondemand::value content;
        if (part.value().get(content) != SUCCESS) return false;
        if (label == "sourceIdentity") take(content);
        else if (label == "attributes") {
            ondemand::object attributes;
            if (content.get_object().get(attributes) != SUCCESS) continue;
            for (auto attribute : attributes) {
                std::string_view key;
                if (attribute.unescaped_key().get(key) != SUCCESS) return false;
                ondemand::value item;
                if (attribute.value().get(item) != SUCCESS) return false;
                if (key == "creationDate") take(item);
            }
        }
    }
    return true;
}

static bool read_event(ondemand::parser &parser, const char *at, size_t length, size_t capacity) {
    ondemand::document doc;
    if (parser.iterate(at, length, capacity).get(doc) != SUCCESS) return false;
    ondemand::object object;
    if (doc.get_object().get(object) != SUCCESS) return false;
    bool time = false;
    for (auto field : object) {
        std::string_view key;
        if (field.unescaped_key().get(key) != SUCCESS) return false;
        ondemand::value value;
        if (field.value().get(value) != SUCCESS) return false;
        if (key == "eventTime") { take(value); time = true; }
        else if (key == "sourceIPAddress" || key == "eventSource" || key == "eventName" || key == "eventCategory"
                 || key == "awsRegion" || key == "recipientAccountId" || key == "eventID" || key == "userAgent") take(value);
        else if (key == "userIdentity") {
            ondemand::object identity;
            if (value.get_object().get(identity) != SUCCESS) continue;
            for (auto member : identity) {
                std::string_view name;
                if (member.unescaped_key().get(name) != SUCCESS) return false;
                ondemand::value inner;
                if (member.value().get(inner) != SUCCESS) return false;
                if (name == "type" || name == "arn" || name == "accountId" || name == "accessKeyId") take(inner);
                else if (name == "sessionContext") {
                    if (!read_context(inner)) return false;
                }
            }
        }
        // Anything else is skipped by the iteration (requestParameters, responseElements, ...).
    }
    return time;
}

int main(int argc, char **argv) {
    if (argc < 2) { std::fprintf(stderr, "usage: SimdjsonYardstick FILE [SECONDS]\n"); return 2; }
    double budget = argc > 2 ? std::atof(argv[2]) : 4.0;
    padded_string file;
    if (padded_string::load(argv[1]).get(file) != SUCCESS) { std::fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    std::vector<std::pair<size_t, size_t>> lines;
    const char *base = file.data();
    size_t size = file.size();
    for (size_t start = 0; start < size;) {
        const char *nl = static_cast<const char *>(std::memchr(base + start, '\n', size - start));
        size_t end = nl ? size_t(nl - base) : size;
        if (end > start) lines.emplace_back(start, end - start);
        start = end + 1;
    }
    size_t bytes = 0;
    for (auto &l : lines) bytes += l.second;
    ondemand::parser parser;
    std::vector<double> rates;
    auto began = std::chrono::steady_clock::now();
    size_t bad = 0;
    for (int i = 0; i < 1000; i++) {
        auto t0 = std::chrono::steady_clock::now();
        bad = 0;
        for (auto &l : lines) {
            if (!read_event(parser, base + l.first, l.second, size + SIMDJSON_PADDING - l.first)) bad++;
        }
        auto t1 = std::chrono::steady_clock::now();
        rates.push_back(std::chrono::duration<double>(t1 - t0).count());
        if (std::chrono::duration<double>(t1 - began).count() > budget && rates.size() >= 3) break;
    }
    std::sort(rates.begin(), rates.end());
    double p50 = rates[rates.size() / 2], best = rates.front();
    std::printf("simdjson On-Demand, rule fields: %zu events, %zu bytes, %zu iterations, %zu bad; "
                "MB/s p50 %.0f best %.0f; events/s p50 %.0f (checksum %zu)\n",
                lines.size(), bytes, rates.size(), bad, bytes / p50 / 1e6, bytes / best / 1e6, lines.size() / p50, checksum);
    return bad == 0 ? 0 : 1;
}
