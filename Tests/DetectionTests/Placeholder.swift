import Testing
@testable import Detection

@Test func placeholder_Detection() {}
