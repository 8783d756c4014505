import CRdKafka

/// Builds an `rd_kafka_conf_t`, naming the property and librdkafka's reason when one is rejected.
enum RDKafkaConfig {
    /// The caller owns the returned conf until `rd_kafka_new` takes it.
    static func make(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        for (name, value) in properties {
            let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = String(cChars: errstr)
                throw KafkaError(
                    code: .invalidConfiguration,
                    message: "librdkafka rejected property '\(name)': \(reason)")
            }
        }
        return conf
    }
}

extension String {
    /// A NUL-terminated C buffer (e.g. librdkafka's `errstr`) as text.
    init(cChars buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
