/// Size and degradation settings of synthetic impressions.
public struct ImpressionOptions: Sendable, Hashable {
    /// How far impressions stray from the clean master.
    public enum Difficulty: String, Sendable, Hashable, CaseIterable, Codable {
        /// Cooperative users on a clean sensor: small shifts, little distortion, mild skin effects.
        case easy
        /// Close to FVC2002 DB1–DB3: partial contact, ±25° rotation, dry and wet fingers.
        case realistic
        /// Careless placement, strong distortion, very dry or wet skin, heavy noise.
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
