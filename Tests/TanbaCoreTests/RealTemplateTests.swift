import Foundation
import Testing
import TanbaTestSupport
@testable import TanbaCore

/// Third-party templates from ../shared/datasets (read in place, never copied).
@Suite(.enabled(if: SharedDatasets.available, Comment(rawValue: SharedDatasets.skipReason)))
struct RealTemplateTests {
    static func files(in folder: String, matching suffix: String, prefix: String = "") throws -> [URL] {
        let root = SharedDatasets.url(folder)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }
            .filter { $0.lastPathComponent.hasSuffix(suffix) && $0.lastPathComponent.hasPrefix(prefix) }
            .sorted { $0.path < $1.path }
    }

    /// The 640 SecuGen-made ISO records of the FVC 2002/2004 "B" sets (one per image).
    @Test func openAFISTemplatesDecodeAndReencodeByteForByte() throws {
        let files = try Self.files(in: "openafis_iso_templates", matching: ".iso")
        #expect(files.count == 640)
        var minutiaCounts: [Int] = []
        var identical = 0
        for url in files {
            let bytes = [UInt8](try Data(contentsOf: url))
            let name = url.deletingLastPathComponent().lastPathComponent + "/" + url.lastPathComponent
            #expect(TemplateCodec.detect(bytes) == .iso19794_2_2005, "\(name)")
            let record: FingerprintRecord
            do {
                record = try TemplateCodec.decode(bytes)
            } catch {
                Issue.record("\(name): \(error)")
                continue
            }
            let view = try #require(record.views.first, "\(name) has no view")
            #expect(record.views.count == 1)
            // The SDK writes a fixed 300×400 frame at 197 px/cm whatever the source image.
            #expect((view.width, view.height, view.resolutionX, view.resolutionY) == (300, 400, 197, 197), "\(name)")
            #expect(view.minutiae.allSatisfy { $0.x < view.width && $0.y < view.height && $0.kind != .other }, "\(name)")
            minutiaCounts.append(view.minutiae.count)
            if try TemplateCodec.encode(record, as: .iso19794_2_2005) == bytes { identical += 1 }
        }
        // Every one of them is canonical: no padding, no extended data, view numbers from 0.
        #expect(identical == 640)
        #expect(minutiaCounts.min() ?? 0 >= 5)
        #expect(minutiaCounts.max() ?? 0 <= 100)
        let mean = Double(minutiaCounts.reduce(0, +)) / Double(max(1, minutiaCounts.count))
        #expect((25...50).contains(mean), "mean minutiae per template \(mean)")
    }

    /// SourceAFIS's ISO test templates: zero-padded to 384 bytes, with a vendor extended data area.
    @Test func sourceAFISTemplatesDecodeDespiteTheirQuirks() throws {
        let files = try Self.files(in: "sourceafis_test_resources", matching: ".dat", prefix: "iso-")
        #expect(files.count == 3)
        for url in files {
            let bytes = [UInt8](try Data(contentsOf: url))
            let name = url.lastPathComponent
            #expect(bytes.count == 384, "\(name)")
            let declared = Fixtures.be32(bytes, 8)
            #expect(declared < bytes.count, "\(name) is not padded")
            let record = try TemplateCodec.decode(bytes)
            let view = try #require(record.views.first)
            #expect(record.views.count == 1)
            #expect(view.resolutionX == 197 && view.quality == 100, "\(name)")
            #expect((30...45).contains(view.minutiae.count), "\(name)")
            #expect(view.minutiae.allSatisfy { $0.x < view.width && $0.y < view.height }, "\(name)")

            // Re-encoding drops the padding and the 5-byte extended data block, and nothing else.
            let reencoded = try TemplateCodec.encode(record, as: .iso19794_2_2005)
            #expect(reencoded.count == declared - 5)
            #expect(reencoded[0..<8] == bytes[0..<8])
            #expect(reencoded[12..<(reencoded.count - 2)] == bytes[12..<(declared - 7)])
            #expect(Array(bytes[(declared - 7)..<(declared - 5)]) == [0x00, 0x05], "\(name) extended data length")
            #expect(Array(reencoded.suffix(2)) == [0x00, 0x00])
            #expect(try TemplateCodec.decode(reencoded) == record)
        }
    }

    @Test func realTemplatesSurviveEveryFormat() throws {
        let files = try Self.files(in: "openafis_iso_templates/fvc2002_db1_b", matching: ".iso")
        #expect(files.count == 80)
        for url in files {
            let record = try TemplateCodec.decode([UInt8](try Data(contentsOf: url)))
            #expect(try TemplateCodec.decode(try TemplateCodec.encode(record, as: .native)) == record)
            let viaANSI = try TemplateCodec.decode(try TemplateCodec.encode(record, as: .ansi378_2004))
            let sent = try #require(record.views.first), got = try #require(viaANSI.views.first)
            #expect(zip(sent.minutiae, got.minutiae).allSatisfy { s, g in
                let d = abs(Int(s.angle) - Int(g.angle))
                return s.x == g.x && s.y == g.y && s.kind == g.kind && min(d, 256 - d) <= 1
            })
        }
    }
}
