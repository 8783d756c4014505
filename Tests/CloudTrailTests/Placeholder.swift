import Testing
@testable import CloudTrail

@Test func placeholder_CloudTrail() {}
