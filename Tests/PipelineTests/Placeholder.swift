import Testing
@testable import Pipeline

@Test func placeholder_Pipeline() {}
