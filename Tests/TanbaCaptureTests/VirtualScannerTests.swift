import Foundation
import Testing
import TanbaCore
import TanbaImaging
import TanbaSynth
import TanbaWire
@testable import TanbaCapture

/// Capture through libfprint's `virtual_image` device, fed synthetic impressions over its socket.
/// libfprint device calls are process-wide serialised, so the suite runs serially.
@Suite(.serialized) struct VirtualScannerTests {
    static let generator = SyntheticFingerprintGenerator(seed: 2026)

    /// Person `person`'s finger at `position`, impression `index`.
    static func impression(person: Int, _ position: FingerPosition, index: Int) -> FingerprintImage {
        let master = generator.master(finger: person * 10 + Int(position.rawValue))
        return generator.impression(of: master, index: index)
    }

    static func blank() -> FingerprintImage { FingerprintImage(width: 416, height: 560, fill: 250, dpi: 500) }

    @Test func virtualDeviceIsListedWhenTheSocketIsSet() throws {
        let devices = try LibfprintDevice.list(virtualImageSocket: VirtualImageFeeder.temporarySocketPath())
        #expect(devices.contains { $0.driver == "virtual_image" && $0.canCapture })
    }

    @Test func capturesWhatWasFedAndExtractsATemplate() throws {
        let image = Self.impression(person: 1, .rightThumb, index: 0)
        let scanner = try VirtualScanner { _, _ in image }
        defer { scanner.close() }
        let captured = try scanner.capture(.rightThumb, attempt: 1)
        #expect(captured.width == image.width && captured.height == image.height)
        #expect(captured.pixels == image.pixels)
        let attempt = try FingerCapture(source: scanner).attempt(.rightThumb, number: 1)
        #expect(attempt.template.position == .rightThumb)
        #expect(attempt.template.minutiae.count >= 15)
        #expect(attempt.quality >= 40)
    }

    @Test func upToThreeAttemptsWithQualityThenTheOperatorDecides() throws {
        // First placement smeared (blank), second good: two attempts, accepted.
        let scanner = try VirtualScanner { position, attempt in
            attempt == 1 ? Self.blank() : Self.impression(person: 2, position, index: attempt)
        }
        defer { scanner.close() }
        var qualities: [Int] = []
        let capture = FingerCapture(source: scanner, minimumQuality: 40)
        let (best, ok) = try capture.best(.leftIndex) { qualities.append($0.quality) }
        #expect(ok && qualities.count == 2 && qualities[0] < 40 && best!.number == 2)

        // Always blank: three attempts, none acceptable: the operator must record an exception.
        let bad = try VirtualScanner { _, _ in Self.blank() }
        defer { bad.close() }
        var tries = 0
        let (_, acceptable) = try FingerCapture(source: bad, minimumQuality: 40).best(.leftRing) { _ in tries += 1 }
        #expect(!acceptable && tries == 3)
    }

    @Test func fullEnrollmentThroughTheVirtualScannerThenVerifiedAtTheCounter() async throws {
        let person = 3
        let scanner = try VirtualScanner { position, attempt in Self.impression(person: person, position, index: attempt) }
        defer { scanner.close() }
        let capture = FingerCapture(source: scanner, minimumQuality: 30)
        var templates: [FingerTemplate] = []
        for position in FingerPosition.tenPrint {
            let (best, ok) = try capture.best(position)
            #expect(ok, "\(position.displayName) below quality")
            if let best { templates.append(best.template) }
        }
        #expect(templates.count == 10)

        let cluster = try await FakeCluster()
        let outbox = try Outbox(path: ":memory:")
        let desk = EnrollmentDesk(identity: CaptureFixtures.station, profile: CaptureFixtures.profile, outbox: outbox,
                                  now: { CaptureFixtures.noon })
        let subject = CaptureFixtures.subject()
        _ = try desk.submit(EnrollmentCase(subject: subject, consent: try desk.consent(for: subject, formReference: "F-1"),
                                           captured: templates))
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(5)))
        #expect(cluster.coordinator.record(subject.iin)?.views.count == 10)

        // At the counter: two fresh impressions of the same person match; another person's do not.
        let counter = CounterVerification(caller: cluster.caller(), address: cluster.address)
        let fresh = try [FingerPosition.rightThumb, .rightIndex].map {
            try FingerCapture(source: GeneratedSource(name: "synthetic") { p, _ in Self.impression(person: person, p, index: 7) })
                .attempt($0, number: 1).template
        }
        let genuine = try await counter.verify(subject.iin, probe: fresh)
        #expect(genuine.isMatch && genuine.score >= genuine.threshold && genuine.fingerScores.count == 2)
        let other = try [FingerPosition.rightThumb, .rightIndex].map {
            try FingerCapture(source: GeneratedSource(name: "synthetic") { p, _ in Self.impression(person: 99, p, index: 7) })
                .attempt($0, number: 1).template
        }
        let impostor = try await counter.verify(subject.iin, probe: other)
        #expect(!impostor.isMatch && impostor.score < genuine.score)
    }
}
