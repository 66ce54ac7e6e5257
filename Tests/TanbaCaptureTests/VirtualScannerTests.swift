import Foundation
import Synchronization
import Testing
import TanbaCore
import TanbaImaging
import TanbaSynth
import TanbaTestSupport
import TanbaWire
@testable import TanbaCapture

/// Capture through libfprint's `virtual_image` device, fed synthetic impressions over its socket.
/// libfprint device calls are process-wide serialised, so the suite runs serially; all blocking
/// work (device, synthesis, extraction) runs off the cooperative pool (`offPool`).
@Suite(.serialized) struct VirtualScannerTests {
    static let generator = SyntheticFingerprintGenerator(seed: 2026)

    /// Masters are the expensive part of synthesis; each is grown once per test process.
    static let masters = Mutex<[Int: MasterFingerprint]>([:])

    /// Person `person`'s finger at `position`, impression `index`.
    static func impression(person: Int, _ position: FingerPosition, index: Int) -> FingerprintImage {
        let key = person * 10 + Int(position.rawValue)
        let master = masters.withLock { cache in
            if let m = cache[key] { return m }
            let m = generator.master(finger: key)
            cache[key] = m
            return m
        }
        return generator.impression(of: master, index: index)
    }

    static func blank() -> FingerprintImage { FingerprintImage(width: 416, height: 560, fill: 250, dpi: 500) }

    @Test func virtualDeviceIsListedWhenTheSocketIsSet() throws {
        let devices = try LibfprintDevice.list(virtualImageSocket: VirtualImageFeeder.temporarySocketPath())
        #expect(devices.contains { $0.driver == "virtual_image" && $0.canCapture })
    }

    @Test func capturesWhatWasFedAndExtractsATemplate() async throws {
        let (image, captured, attempt) = try await offPool { () throws -> (FingerprintImage, FingerprintImage, FingerCapture.Attempt) in
            let image = Self.impression(person: 1, .rightThumb, index: 0)
            let scanner = try VirtualScanner { _, _ in image }
            defer { scanner.close() }
            let captured = try scanner.capture(.rightThumb, attempt: 1)
            return (image, captured, try FingerCapture(source: scanner).attempt(.rightThumb, number: 1))
        }
        #expect(captured.width == image.width && captured.height == image.height)
        #expect(captured.pixels == image.pixels)
        #expect(attempt.template.position == .rightThumb)
        #expect(attempt.template.minutiae.count >= 15)
        #expect(attempt.quality >= 40)
    }

    @Test func upToThreeAttemptsWithQualityThenTheOperatorDecides() async throws {
        // First placement smudged (a small patch touched the glass), second good: two attempts, accepted.
        let first = try await offPool { () throws -> (qualities: [Int], failures: Int, best: Int?, ok: Bool) in
            let scanner = try VirtualScanner { position, attempt in
                let image = Self.impression(person: 2, position, index: attempt)
                return attempt == 1 ? FingerCapture.smudged(image) : image
            }
            defer { scanner.close() }
            var qualities: [Int] = []
            var failures = 0
            let (best, ok) = try FingerCapture(source: scanner, minimumQuality: 40)
                .best(.leftIndex, onAttempt: { qualities.append($0.quality) }, onFailure: { _, _ in failures += 1 })
            return (qualities, failures, best?.number, ok)
        }
        #expect(first.ok && first.qualities.count + first.failures == 2 && first.best == 2)
        #expect(first.qualities.first.map { $0 < 40 } ?? true)

        // Nothing usable three times: three attempts, none acceptable, the operator must record an exception.
        let second = try await offPool { () throws -> (tries: Int, ok: Bool) in
            let bad = try VirtualScanner { position, attempt in
                FingerCapture.smudged(Self.impression(person: 2, position, index: attempt), patch: 48)
            }
            defer { bad.close() }
            var tries = 0
            let (_, acceptable) = try FingerCapture(source: bad, minimumQuality: 40)
                .best(.leftRing, onAttempt: { _ in tries += 1 }, onFailure: { _, _ in tries += 1 })
            return (tries, acceptable)
        }
        #expect(!second.ok && second.tries == 3)
    }

    @Test func aFailedCaptureIsATypedErrorAndTheDeviceCarriesOn() async throws {
        // No image for the first attempt: a typed error, and the device still captures afterwards.
        let (image, error, captured) = try await offPool { () throws -> (FingerprintImage, CaptureError?, FingerprintImage) in
            let image = Self.impression(person: 4, .rightIndex, index: 0)
            let scanner = try VirtualScanner { _, attempt in attempt == 1 ? nil : image }
            defer { scanner.close() }
            var failure: CaptureError?
            do { _ = try scanner.capture(.rightIndex, attempt: 1) } catch let e as CaptureError { failure = e }
            return (image, failure, try scanner.capture(.rightIndex, attempt: 2))
        }
        #expect(error == CaptureError.noImage(.rightIndex, attempt: 1))
        #expect(captured.pixels == image.pixels)
    }

    @Test func imagesLeaveTheStationOnlySealed() async throws {
        let dir = CaptureFixtures.temporaryPath("export")
        let keyFile = dir + ".key"
        try Data(String(repeating: "ab", count: 32).utf8).write(to: URL(fileURLWithPath: keyFile))
        let exporter = try EncryptedImageExporter(directory: dir, keyFile: keyFile)
        let image = try await offPool { () throws -> FingerprintImage in
            let image = Self.impression(person: 5, .rightThumb, index: 0)
            let capture = FingerCapture(source: GeneratedSource(name: "synthetic") { _, _ in image }, exporter: exporter)
            _ = try capture.attempt(.rightThumb, number: 1)
            return image
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(files.count == 1 && files[0].hasSuffix(".pgm.sealed"))
        let sealed = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + files[0]))
        // No run of the raw pixels appears in the file; the key opens it back to the PGM.
        #expect(sealed.range(of: Data(image.pixels[50_000..<50_064])) == nil)
        let opened = try exporter.open(path: dir + "/" + files[0])
        #expect(Array(opened.suffix(image.pixels.count)) == image.pixels)
        #expect(String(decoding: opened.prefix(2), as: UTF8.self) == "P5")
    }

    /// Two fingers of a synthetic person, captured without the device (for probes).
    static func probe(person: Int, index: Int) throws -> [FingerTemplate] {
        try [FingerPosition.rightThumb, .rightIndex].map {
            try FingerCapture(source: GeneratedSource(name: "synthetic") { p, _ in Self.impression(person: person, p, index: index) })
                .attempt($0, number: 1).template
        }
    }

    @Test func fullEnrollmentThroughTheVirtualScannerThenVerifiedAtTheCounter() async throws {
        let person = 3
        let (templates, allAcceptable, fresh, other) = try await offPool {
            () throws -> ([FingerTemplate], Bool, [FingerTemplate], [FingerTemplate]) in
            let scanner = try VirtualScanner { position, attempt in Self.impression(person: person, position, index: attempt) }
            defer { scanner.close() }
            let capture = FingerCapture(source: scanner, minimumQuality: 30)
            var templates: [FingerTemplate] = []
            var allAcceptable = true
            for position in FingerPosition.tenPrint {
                let (best, ok) = try capture.best(position)
                allAcceptable = allAcceptable && ok
                if let best { templates.append(best.template) }
            }
            return (templates, allAcceptable, try Self.probe(person: person, index: 7), try Self.probe(person: 99, index: 7))
        }
        #expect(allAcceptable && templates.count == 10)

        let cluster = try await RealCluster()
        let outbox = try Outbox(path: ":memory:")
        let desk = EnrollmentDesk(identity: CaptureFixtures.station, profile: CaptureFixtures.profile, outbox: outbox,
                                  now: { CaptureFixtures.noon })
        let subject = CaptureFixtures.subject()
        _ = try desk.submit(EnrollmentCase(subject: subject, consent: try desk.consent(for: subject, formReference: "F-1"),
                                           captured: templates))
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(5)))
        #expect(try cluster.enrollment(subject.iin)?.record.views.count == 10)
        #expect(try cluster.standbyInStep())

        // At the counter: two fresh impressions of the same person match; another person's do not.
        let counter = CounterVerification(caller: cluster.caller(), address: cluster.address)
        let genuine = try await counter.verify(subject.iin, probe: fresh)
        #expect(genuine.isMatch && genuine.score >= genuine.threshold && genuine.fingerScores.count == 2)
        let impostor = try await counter.verify(subject.iin, probe: other)
        #expect(!impostor.isMatch && impostor.score < genuine.score)

        // And 1:N: the fresh impressions identify the person among the enrolled.
        let second = CaptureFixtures.subject(CaptureFixtures.iin(born: .init(year: 1970, month: 7, day: 7), serial: 31), name: "Other")
        _ = try desk.submit(EnrollmentCase(subject: second, consent: try desk.consent(for: second, formReference: "F-2"),
                                           captured: other,
                                           exceptions: FingerPosition.tenPrint.dropFirst(2).map {
                                               FingerException(position: $0, kind: .bandaged, reason: "burns") }))
        #expect(try await cluster.sender(outbox).drain(timeout: .seconds(5)))
        let answer = try await cluster.caller().call(.identify(IdentifyRequest(probe: FingerprintRecord(views: fresh), topK: 5)),
                                                     to: "coordinator", at: cluster.address, deadline: .seconds(10))
        guard case .identifyAnswer(let identified) = answer else { Issue.record("no IDENTIFY answer"); return }
        #expect(identified.candidates.first?.iin == subject.iin)
        #expect(!identified.candidates.contains { $0.iin == second.iin })
    }

    /// Real prints: FVC2002 DB1 fingers 101…110 as one person's ten fingers, impression 1
    /// enrolled through the virtual scanner and sent to the real cluster (local-up processes,
    /// mutual TLS), impression 4 identified 1:N and verified at the counter.
    @Test(.enabled(if: SharedDatasets.available, Comment(rawValue: SharedDatasets.skipReason)))
    func realImagesFromTheSharedDatasetsEnrollAndVerify() async throws {
        @Sendable func image(_ finger: Int, _ impression: Int) throws -> FingerprintImage {
            try ImageDecoder.decode(contentsOf: SharedDatasets.url("fvc2002_db1_b/\(finger)_\(impression).tif").path, dpi: 500)
        }
        let (templates, genuineProbe, impostorProbe) = try await offPool {
            () throws -> ([FingerTemplate], [FingerTemplate], [FingerTemplate]) in
            let images = try Dictionary(uniqueKeysWithValues: FingerPosition.tenPrint.map { ($0, try image(100 + Int($0.rawValue), 1)) })
            let scanner = try VirtualScanner { position, _ in images[position] }
            defer { scanner.close() }
            let capture = FingerCapture(source: scanner, minimumQuality: 0, maximumAttempts: 1)
            let templates = try FingerPosition.tenPrint.map { try capture.attempt($0, number: 1).template }
            let extractor = MinutiaeExtractor()
            let genuine = [try extractor.extract(try image(101, 4), position: .rightThumb),
                           try extractor.extract(try image(102, 4), position: .rightIndex)]
            // Fingers 105 and 106 presented as the right thumb and index.
            let impostor = [try extractor.extract(try image(105, 4), position: .rightThumb),
                            try extractor.extract(try image(106, 4), position: .rightIndex)]
            return (templates, genuine, impostor)
        }
        #expect(templates.allSatisfy { $0.minutiae.count >= 10 })

        // The real cluster as processes (cluster/local-up: coordinator, sync standby, workers),
        // reached over nng mutual TLS with the station certificate its PKI issued.
        guard let binary = TerminalWorkflowTests.binary else { print("skipping: needs the tanba binary"); return }
        let cluster = try await TerminalWorkflowTests.LocalUp.start(binary: binary)
        defer { cluster.down() }
        let caller = try cluster.caller()
        let outbox = try Outbox(path: ":memory:")
        let desk = EnrollmentDesk(identity: caller.identity, profile: CaptureFixtures.profile, outbox: outbox)
        let subject = CaptureFixtures.subject()
        _ = try desk.submit(EnrollmentCase(subject: subject, consent: try desk.consent(for: subject, formReference: "F-1"),
                                           captured: templates))
        let sender = OutboxSender(outbox: outbox, caller: caller, address: cluster.address, requestDeadline: .seconds(30))
        #expect(try await sender.drain(timeout: .seconds(60)))
        #expect(try outbox.items().map(\.answer) == ["consent recorded", "enrolled"])

        // 1:N: the genuine probe (another impression) finds the person.
        let answer = try await caller.call(.identify(IdentifyRequest(probe: FingerprintRecord(views: genuineProbe), topK: 5)),
                                           to: "coordinator", at: cluster.address, deadline: .seconds(30))
        guard case .identifyAnswer(let identified) = answer else { Issue.record("no IDENTIFY answer: \(answer)"); return }
        #expect(identified.candidates.first?.iin == subject.iin, "\(identified)")

        let counter = CounterVerification(caller: caller, address: cluster.address, deadline: .seconds(30))
        let genuine = try await counter.verify(subject.iin, probe: genuineProbe)
        #expect(genuine.isMatch)
        let impostor = try await counter.verify(subject.iin, probe: impostorProbe)
        #expect(!impostor.isMatch && impostor.score < genuine.score)
    }
}
