import Testing
@testable import KafkaClient

@Test func placeholder_KafkaClient() {}
