import Testing
@testable import TanbaEvaluation

@Suite struct ErrorRatesTests {
    @Test func perfectSeparationHasZeroEER() {
        let r = ErrorRates(genuine: [0.8, 0.9, 1.0], impostor: [0.1, 0.2, 0.3])
        #expect(r.equalErrorRate == 0)
        #expect(r.falseNonMatchRate(atFalseMatchRate: 0.001) == 0)
    }

    @Test func ratesCountAcceptanceAtOrAboveTheThreshold() {
        let r = ErrorRates(genuine: [0.2, 0.5, 0.7, 0.9], impostor: [0.1, 0.3, 0.5, 0.6])
        #expect(r.falseMatchRate(at: 0.5) == 0.5)       // 0.5 and 0.6 accepted
        #expect(r.falseNonMatchRate(at: 0.5) == 0.25)   // 0.2 rejected
        #expect(r.falseMatchRate(at: 0.61) == 0)
    }

    @Test func overlappingDistributionsGiveTheCrossingRate() {
        // Genuine 0.30…0.99 and impostor 0.00…0.69 (70 values each, step 0.01): at t = 0.50,
        // 20 impostors (0.50…0.69) are accepted and 20 genuine (0.30…0.49) rejected.
        let genuine = (30..<100).map { Float($0) / 100 }
        let impostor = (0..<70).map { Float($0) / 100 }
        let r = ErrorRates(genuine: genuine, impostor: impostor)
        #expect(abs(r.equalErrorRate - 20.0 / 70.0) < 0.01)
    }

    @Test func thresholdForFMRAllowsAtMostThatShareOfImpostors() throws {
        let impostor = (0..<1000).map { Float($0) / 1000 }
        let r = ErrorRates(genuine: [0.5], impostor: impostor)
        let t = try #require(r.threshold(forFalseMatchRate: 0.01))
        #expect(r.falseMatchRate(at: t) <= 0.01)
        #expect(r.falseMatchRate(at: t.nextDown) > 0.01 - 0.001)
    }
}
