@testable import TanbaCore

/// Hand-built records, written field by field in the order the standards define them
/// (ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 finger minutiae records), so that each
/// byte can be checked against the text.
enum Fixtures {
    // MARK: ISO/IEC 19794-2:2005

    /// Two views of the right index finger; 60 bytes.
    static let iso: [UInt8] = {
        var b: [UInt8] = []
        b += [0x46, 0x4D, 0x52, 0x00]   // format identifier "FMR\0"
        b += [0x20, 0x32, 0x30, 0x00]   // version " 20\0"
        b += [0x00, 0x00, 0x00, 0x3C]   // record length 60 = 24 + (4 + 3·6 + 2) + (4 + 1·6 + 2)
        b += [0x12, 0x34]               // certification flags 0x1, device type ID 0x234
        b += [0x01, 0x90]               // image width 400
        b += [0x01, 0xF4]               // image height 500
        b += [0x00, 0xC5]               // x resolution 197 px/cm (500 dpi)
        b += [0x00, 0xC5]               // y resolution 197 px/cm
        b += [0x02]                     // number of finger views
        b += [0x00]                     // reserved
        // view 0
        b += [0x02]                     // finger position 2: right index
        b += [0x00]                     // view number 0 | impression 0 (live-scan plain)
        b += [0x50]                     // finger quality 80
        b += [0x03]                     // 3 minutiae
        b += [0x40, 0x64]               //   type 01 (ridge ending) | x 100
        b += [0x00, 0xC8]               //   reserved 00 | y 200
        b += [0x40]                     //   angle 64 × 1.40625° = 90°
        b += [0x5A]                     //   quality 90
        b += [0x81, 0x23]               //   type 10 (bifurcation) | x 0x123 = 291
        b += [0x00, 0xF0]               //   y 240
        b += [0x00]                     //   angle 0
        b += [0x00]                     //   quality 0 (not reported)
        b += [0x3F, 0xFF]               //   type 00 (other) | x 16383, the 14-bit maximum
        b += [0x3F, 0xFF]               //   y 16383
        b += [0xFF]                     //   angle 255 = 358.59°
        b += [0x64]                     //   quality 100
        b += [0x00, 0x00]               // extended data block length 0
        // view 1: a second view of the same finger
        b += [0x02]                     // finger position 2: right index
        b += [0x11]                     // view number 1 | impression 1 (live-scan rolled)
        b += [0x00]                     // finger quality 0
        b += [0x01]                     // 1 minutia
        b += [0x40, 0x0A]               //   ridge ending, x 10
        b += [0x00, 0x14]               //   y 20
        b += [0x80]                     //   angle 128 = 180°
        b += [0x32]                     //   quality 50
        b += [0x00, 0x00]               // extended data block length 0
        return b
    }()

    /// What `iso` holds.
    static let isoRecord: FingerprintRecord = {
        let first = FingerTemplate(
            position: .rightIndex, impression: .liveScanPlain, width: 400, height: 500,
            resolutionX: 197, resolutionY: 197, quality: 80,
            minutiae: [
                Minutia(x: 100, y: 200, angle: 64, kind: .ridgeEnding, quality: 90),
                Minutia(x: 291, y: 240, angle: 0, kind: .bifurcation, quality: 0),
                Minutia(x: 16383, y: 16383, angle: 255, kind: .other, quality: 100),
            ])
        let second = FingerTemplate(
            position: .rightIndex, impression: .liveScanRolled, width: 400, height: 500,
            resolutionX: 197, resolutionY: 197, quality: 0,
            minutiae: [Minutia(x: 10, y: 20, angle: 128, kind: .ridgeEnding, quality: 50)])
        return FingerprintRecord(views: [first, second], captureDeviceID: 0x1234)
    }()

    // MARK: ANSI INCITS 378-2004

    /// One view of the left index finger; 44 bytes, 2-byte record length.
    static let ansi: [UInt8] = {
        var b: [UInt8] = []
        b += [0x46, 0x4D, 0x52, 0x00]   // format identifier "FMR\0"
        b += [0x20, 0x32, 0x30, 0x00]   // version " 20\0"
        b += [0x00, 0x2C]               // record length 44 = 26 + (4 + 2·6 + 2)
        b += [0x00, 0x33]               // CBEFF product identifier owner 0x0033
        b += [0x01, 0x02]               // CBEFF product identifier type 0x0102
        b += [0x80, 0x01]               // compliance flags 0x8, equipment ID 1
        b += [0x01, 0x2C]               // image width 300
        b += [0x01, 0x90]               // image height 400
        b += [0x00, 0xC5]               // x resolution 197 px/cm
        b += [0x00, 0xC5]               // y resolution 197 px/cm
        b += [0x01]                     // number of finger views
        b += [0x00]                     // reserved
        b += [0x07]                     // finger position 7: left index
        b += [0x00]                     // view number 0 | impression 0
        b += [0x3C]                     // finger quality 60
        b += [0x02]                     // 2 minutiae
        b += [0x40, 0x96]               //   ridge ending, x 150
        b += [0x00, 0xFA]               //   y 250
        b += [0x2D]                     //   angle 45 × 2° = 90° → ISO 64
        b += [0x46]                     //   quality 70
        b += [0x80, 0x14]               //   bifurcation, x 20
        b += [0x00, 0x1E]               //   y 30
        b += [0xB3]                     //   angle 179 × 2° = 358° → ISO round(179·256/180) = 255
        b += [0x00]                     //   quality 0
        b += [0x00, 0x00]               // extended data block length 0
        return b
    }()

    /// What `ansi` holds (angles in the model's ISO unit).
    static let ansiRecord = FingerprintRecord(
        views: [FingerTemplate(
            position: .leftIndex, impression: .liveScanPlain, width: 300, height: 400,
            resolutionX: 197, resolutionY: 197, quality: 60,
            minutiae: [
                Minutia(x: 150, y: 250, angle: 64, kind: .ridgeEnding, quality: 70),
                Minutia(x: 20, y: 30, angle: 255, kind: .bifurcation, quality: 0),
            ])],
        captureDeviceID: 0x8001, productOwner: 0x0033, productType: 0x0102)

    // MARK: Generated records

    /// A ten-print: one view per finger, all with the same image size and resolution (as
    /// ISO/ANSI require), `perFinger` minutiae each, values spread over their whole ranges.
    static func tenPrint(perFinger: Int = 30, width: UInt16 = 500, height: UInt16 = 550) -> FingerprintRecord {
        let kinds: [MinutiaKind] = [.ridgeEnding, .bifurcation, .other]
        let views = FingerPosition.tenPrint.enumerated().map { f, position in
            FingerTemplate(
                position: position, impression: f.isMultiple(of: 2) ? .liveScanPlain : .liveScanRolled,
                width: width, height: height, resolutionX: 197, resolutionY: 197, quality: UInt8(f * 10),
                minutiae: (0..<perFinger).map { i in
                    Minutia(x: UInt16((i * 37 + f * 11) % Int(width)), y: UInt16((i * 53 + f * 7) % Int(height)),
                            angle: UInt8((i * 29 + f) % 256), kind: kinds[(i + f) % 3], quality: UInt8((i * 13) % 101))
                })
        }
        return FingerprintRecord(views: views, captureDeviceID: 0x0ABC, productOwner: 0x1B, productType: 0x2)
    }

    /// `record` as ISO/ANSI can carry it: the record-level size and resolution in every view.
    static func sharingRecordHeader(_ record: FingerprintRecord) -> FingerprintRecord {
        var shared = record
        let width = record.views.map(\.width).max() ?? 0, height = record.views.map(\.height).max() ?? 0
        let rx = record.views.first?.resolutionX ?? 0, ry = record.views.first?.resolutionY ?? 0
        for i in shared.views.indices {
            shared.views[i].width = width
            shared.views[i].height = height
            shared.views[i].resolutionX = rx
            shared.views[i].resolutionY = ry
        }
        return shared
    }

    /// Big-endian 16-bit word at `offset`, for checking headers in tests.
    static func be16(_ bytes: [UInt8], _ offset: Int) -> Int { Int(bytes[offset]) << 8 | Int(bytes[offset + 1]) }
    static func be32(_ bytes: [UInt8], _ offset: Int) -> Int { be16(bytes, offset) << 16 | be16(bytes, offset + 2) }
}
