/// Finger position codes of ISO/IEC 19794-2:2005 (table 5) and ANSI INCITS 378, 0–10.
public enum FingerPosition: UInt8, Sendable, CaseIterable, Codable, Comparable {
    case unknown = 0
    case rightThumb = 1, rightIndex = 2, rightMiddle = 3, rightRing = 4, rightLittle = 5
    case leftThumb = 6, leftIndex = 7, leftMiddle = 8, leftRing = 9, leftLittle = 10

    public enum Hand: String, Sendable { case right, left, unknown }

    /// The ten fingers of a ten-print, in capture order (right thumb first).
    public static let tenPrint: [FingerPosition] = (1...10).map { FingerPosition(rawValue: $0)! }

    public var hand: Hand {
        switch rawValue {
        case 1...5: return .right
        case 6...10: return .left
        default: return .unknown
        }
    }

    /// "RIGHT THUMB", as an operator prompt shows it.
    public var displayName: String {
        switch self {
        case .unknown: return "UNKNOWN FINGER"
        case .rightThumb: return "RIGHT THUMB"
        case .rightIndex: return "RIGHT INDEX"
        case .rightMiddle: return "RIGHT MIDDLE"
        case .rightRing: return "RIGHT RING"
        case .rightLittle: return "RIGHT LITTLE"
        case .leftThumb: return "LEFT THUMB"
        case .leftIndex: return "LEFT INDEX"
        case .leftMiddle: return "LEFT MIDDLE"
        case .leftRing: return "LEFT RING"
        case .leftLittle: return "LEFT LITTLE"
        }
    }

    public static func < (a: FingerPosition, b: FingerPosition) -> Bool { a.rawValue < b.rawValue }
}
