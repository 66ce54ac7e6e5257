import Testing
@testable import TanbaCore
import TanbaTestSupport

/// Hostile and damaged input: every outcome must be a valid record or a `TemplateFormatError`
/// (the type system guarantees the error type; a crash would end the test run).
@Suite struct TemplateFuzzTests {
    /// What happened to a batch of inputs.
    struct Tally {
        var decoded = 0
        var rejected = 0
        var broken: [String] = []   // invariant violations, reported at the end

        /// Decodes `bytes`. A decoded record must re-encode in its own format and in the
        /// native one and decode back to itself; no input may be valid as both ISO and ANSI.
        mutating func probe(_ bytes: [UInt8], as format: TemplateFormat? = nil) {
            let record: FingerprintRecord
            do {
                record = try TemplateCodec.decode(bytes, as: format)
            } catch {
                rejected += 1
                if error.description.isEmpty { broken.append("empty description for \(error)") }
                return
            }
            decoded += 1
            guard let claimed = format ?? TemplateCodec.detect(bytes) else {
                broken.append("decoded but not detected: \(bytes.prefix(16))")
                return
            }
            if claimed != .native,
               (try? TemplateCodec.decode(bytes, as: .iso19794_2_2005)) != nil,
               (try? TemplateCodec.decode(bytes, as: .ansi378_2004)) != nil {
                broken.append("valid as both ISO and ANSI: \(bytes.prefix(16))")
            }
            for target in Set([claimed, .native]) {
                do {
                    let again = try TemplateCodec.decode(try TemplateCodec.encode(record, as: target), as: target)
                    if again != record { broken.append("\(target) round trip changed a decoded record") }
                } catch {
                    broken.append("decoded record failed to re-encode as \(target): \(error)")
                }
            }
        }

        func verify(_ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(broken.isEmpty, "\(broken.prefix(5))", sourceLocation: sourceLocation)
            #expect(decoded + rejected > 0, sourceLocation: sourceLocation)
        }
    }

    /// Valid records of every format, small enough that all their prefixes are cheap.
    static let corpus: [(String, [UInt8])] = {
        let small = Fixtures.tenPrint(perFinger: 4)
        // These records are all valid for their format, so `try!` cannot fail here.
        return [
            ("iso fixture", Fixtures.iso),
            ("ansi fixture", Fixtures.ansi),
            ("iso ten-print", try! TemplateCodec.encode(small, as: .iso19794_2_2005)),
            ("ansi ten-print", try! TemplateCodec.encode(small, as: .ansi378_2004)),
            ("native extreme", try! TemplateCodec.encode(NativeTemplateTests.extreme, as: .native)),
            ("native ten-print", try! TemplateCodec.encode(small, as: .native)),
        ]
    }()

    static func resealed(_ body: some Collection<UInt8>) -> [UInt8] {
        let crc = CRC32.checksum(body)
        return Array(body) + [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)]
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix64(seed: 0x7A4B_A001)
        var tally = Tally()
        for _ in 0..<2000 {   // anything at all
            tally.probe(rng.bytes(Int.random(in: 0...80, using: &rng)))
        }
        for _ in 0..<2000 {   // past the magic, with a length field that matches the size
            let ansi = Bool.random(using: &rng)
            let size = Int.random(in: (ansi ? 26 : 24)...160, using: &rng)
            var bytes = MinutiaeRecordCodec.magic + MinutiaeRecordCodec.version + rng.bytes(size - 8)
            if ansi { bytes[8] = UInt8(size >> 8); bytes[9] = UInt8(size & 0xFF) } else {
                bytes[8...11] = [0, 0, UInt8(size >> 8), UInt8(size & 0xFF)]
            }
            bytes[22 + (ansi ? 2 : 0)] %= 4   // a few views, so that parsing goes deep
            tally.probe(bytes)
        }
        for _ in 0..<1000 {   // past the native checksum
            tally.probe(Self.resealed(NativeTemplateCodec.magic + [1] + rng.bytes(Int.random(in: 0...60, using: &rng))))
        }
        tally.verify()
        #expect(tally.rejected > 4000)
    }

    @Test func everyTruncationIsRefused() {
        var tally = Tally()
        for (name, bytes) in Self.corpus {
            for cut in 0..<bytes.count {
                let before = tally.decoded
                tally.probe(Array(bytes.prefix(cut)))
                if tally.decoded != before { tally.broken.append("\(name) cut to \(cut) bytes decoded") }
            }
            tally.probe(bytes)   // and the whole record is accepted
        }
        tally.verify()
        #expect(tally.decoded == Self.corpus.count)
    }

    @Test func bitFlipsAndByteSubstitutionsNeverCrash() {
        var rng = SplitMix64(seed: 0xF11D)
        var tally = Tally()
        for (_, original) in Self.corpus {
            let isNative = original.starts(with: NativeTemplateCodec.magic)
            for round in 0..<1000 {
                var bytes = original
                for _ in 0...Int.random(in: 0...2, using: &rng) {
                    let i = Int.random(in: 0..<bytes.count, using: &rng)
                    if round.isMultiple(of: 2) { bytes[i] ^= 1 << UInt8.random(in: 0...7, using: &rng) } else { bytes[i] = rng.byte() }
                }
                // For native records, half the mutants get a fresh checksum so that the
                // structural checks behind the CRC are exercised too.
                if isNative && round % 4 < 2 { bytes = Self.resealed(bytes.dropLast(4)) }
                tally.probe(bytes)
            }
        }
        tally.verify()
        // Some mutations land in values (coordinates, angles) and stay valid records.
        #expect(tally.decoded > 100)
        #expect(tally.rejected > 1000)
    }

    @Test func forgedCountsAreRefusedBeforeAllocating() throws {
        // Each forged count is checked against the bytes left (`needed` = count × element
        // size) before any storage is reserved for it.
        var views = Fixtures.iso
        views[22] = 255
        #expect(throws: TemplateFormatError.truncated(offset: 24, needed: 255 * 6, available: 36)) {
            try TemplateCodec.decode(views)
        }
        var minutiae = Fixtures.iso
        minutiae[27] = 255
        #expect(throws: TemplateFormatError.truncated(offset: 28, needed: 255 * 6 + 2, available: 32)) {
            try TemplateCodec.decode(minutiae)
        }
        var extended = Fixtures.ansi
        extended[42...43] = [0xFF, 0xFF]
        #expect(throws: TemplateFormatError.truncated(offset: 44, needed: 65535, available: 0)) {
            try TemplateCodec.decode(extended)
        }
        var isoLength = Fixtures.iso
        isoLength[8...11] = [0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: TemplateFormatError.lengthMismatch(declared: 0xFFFF_FFFF, actual: 60, offset: 8)) {
            try TemplateCodec.decode(isoLength, as: .iso19794_2_2005)
        }
        let ansiLength = Array(Fixtures.ansi[0..<8]) + [0, 0, 0xFF, 0xFF, 0xFF, 0xFF] + Fixtures.ansi[10...]
        #expect(throws: TemplateFormatError.lengthMismatch(declared: 0xFFFF_FFFF, actual: 48, offset: 8)) {
            try TemplateCodec.decode(ansiLength, as: .ansi378_2004)
        }

        var native = try TemplateCodec.encode(NativeTemplateTests.extreme, as: .native).dropLast(4)
        let bodySize = native.count
        native[11...12] = [0xFF, 0xFF]   // 65535 views
        #expect(throws: TemplateFormatError.truncated(offset: 13, needed: 65535 * 13, available: bodySize - 13)) {
            try TemplateCodec.decode(Self.resealed(native))
        }
        native[11...12] = [0x03, 0x00]
        native[24...25] = [0xFF, 0xFF]   // 65535 minutiae in the first view
        #expect(throws: TemplateFormatError.truncated(offset: 26, needed: 6 * 65535 + 16384, available: bodySize - 26)) {
            try TemplateCodec.decode(Self.resealed(native))
        }

        let huge = [UInt8](repeating: 0, count: TemplateCodec.maximumRecordSize + 1)
        #expect(throws: TemplateFormatError.oversized(size: huge.count, limit: TemplateCodec.maximumRecordSize)) {
            try TemplateCodec.decode(huge)
        }
    }

    /// A random record within the ranges ISO/ANSI can carry (`standard`) or over the whole
    /// range of every field (for the native format).
    static func randomRecord(_ rng: inout SplitMix64, standard: Bool) -> FingerprintRecord {
        let impressions: [ImpressionType] = [.liveScanPlain, .liveScanRolled, .nonLiveScanPlain, .nonLiveScanRolled,
                                             .latent, .swipe, .liveScanContactless]
        let kinds: [MinutiaKind] = [.other, .ridgeEnding, .bifurcation]
        let coordinateLimit: UInt16 = standard ? 0x3FFF : .max
        let qualityLimit: UInt8 = standard ? 100 : .max
        let width = UInt16.random(in: 0...coordinateLimit, using: &rng), height = UInt16.random(in: 0...coordinateLimit, using: &rng)
        let rx = UInt16.random(in: 0...UInt16.max, using: &rng), ry = UInt16.random(in: 0...UInt16.max, using: &rng)
        let views = (0..<Int.random(in: 0...12, using: &rng)).map { _ in
            let count = Int.random(in: 0...60, using: &rng)
            return FingerTemplate(
                position: FingerPosition.allCases.randomElement(using: &rng) ?? .unknown,
                impression: impressions.randomElement(using: &rng) ?? .liveScanPlain,
                width: standard ? width : .random(in: 0...UInt16.max, using: &rng),
                height: standard ? height : .random(in: 0...UInt16.max, using: &rng),
                resolutionX: standard ? rx : .random(in: 0...UInt16.max, using: &rng),
                resolutionY: standard ? ry : .random(in: 0...UInt16.max, using: &rng),
                quality: .random(in: 0...qualityLimit, using: &rng),
                minutiae: (0..<count).map { _ in
                    Minutia(x: .random(in: 0...coordinateLimit, using: &rng), y: .random(in: 0...coordinateLimit, using: &rng),
                            angle: rng.byte(), kind: kinds.randomElement(using: &rng) ?? .other,
                            quality: .random(in: 0...qualityLimit, using: &rng))
                })
        }
        return FingerprintRecord(views: views, captureDeviceID: .random(in: 0...UInt16.max, using: &rng),
                                 productOwner: .random(in: 0...UInt16.max, using: &rng),
                                 productType: .random(in: 0...UInt16.max, using: &rng))
    }

    @Test func randomRecordsRoundTrip() throws {
        var rng = SplitMix64(seed: 2005)
        for _ in 0..<150 {
            let any = Self.randomRecord(&rng, standard: false)
            #expect(try TemplateCodec.decode(try TemplateCodec.encode(any, as: .native)) == any)

            let standard = Self.randomRecord(&rng, standard: true)
            let isoBytes = try TemplateCodec.encode(standard, as: .iso19794_2_2005)
            var withoutProduct = standard
            withoutProduct.productOwner = 0
            withoutProduct.productType = 0
            #expect(try TemplateCodec.decode(isoBytes) == withoutProduct)
            #expect(try TemplateCodec.encode(try TemplateCodec.decode(isoBytes), as: .iso19794_2_2005) == isoBytes)

            let viaANSI = try TemplateCodec.decode(try TemplateCodec.encode(standard, as: .ansi378_2004))
            var expected = standard
            for v in expected.views.indices {
                for m in expected.views[v].minutiae.indices {
                    let angle = expected.views[v].minutiae[m].angle
                    expected.views[v].minutiae[m].angle = MinutiaeRecordCodec.isoAngle(
                        ansi: MinutiaeRecordCodec.ansiAngle(iso: angle)) ?? angle
                }
            }
            #expect(viaANSI == expected)
        }
    }
}
