import Testing
@testable import TanbaWire
@Suite struct SmokeTests { @Test func errorText() { #expect(WireError.timedOut.description.contains("timed out")) } }
