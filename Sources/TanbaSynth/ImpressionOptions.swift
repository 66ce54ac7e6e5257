/// Size and degradation settings of synthetic impressions.
public struct ImpressionOptions: Sendable, Hashable {
    /// How far impressions stray from the clean master.
    public enum Difficulty: String, Sendable, Hashable, CaseIterable, Codable {
        /// Cooperative users on a clean sensor: small shifts, little distortion, mild skin effects.
        case easy
        /// Partial contact, ±25° rotation, dry and wet fingers; for the project's matcher
        /// between FVC2002's SFinGe set (DB4) and its optical sets (docs/synthetic.md).
        case realistic
        /// Careless placement, strong distortion, very dry or wet skin, heavy noise; about
        /// as hard as FVC2002 DB1 for the project's matcher.
        case hard
    }

    public var width: Int
    public var height: Int
    public var difficulty: Difficulty

    /// Defaults to 416×560 (the frame of common 500-dpi optical single-finger scanners).
    public init(width: Int = 416, height: Int = 560, difficulty: Difficulty = .realistic) {
        precondition(width >= 32 && height >= 32, "an impression needs at least 32x32 pixels")
        self.width = width
        self.height = height
        self.difficulty = difficulty
    }
}
