/// Kind of a minutia, with the two-bit codes of ISO/IEC 19794-2 (00 other, 01 ending, 10 bifurcation).
public enum MinutiaKind: UInt8, Sendable, Codable {
    case other = 0
    case ridgeEnding = 1
    case bifurcation = 2
}

/// One minutia in pixel coordinates of its template's image (origin top-left, y down).
///
/// The angle uses the ISO/IEC 19794-2 unit: 256 steps per turn (1.40625°), measured
/// counter-clockwise from the horizontal axis pointing right. Quality is 0–100
/// (0 = not reported). Eight bytes, so arrays of minutiae stay compact.
public struct Minutia: Sendable, Hashable, Codable {
    public var x: UInt16
    public var y: UInt16
    public var angle: UInt8
    public var kind: MinutiaKind
    public var quality: UInt8

    public init(x: UInt16, y: UInt16, angle: UInt8, kind: MinutiaKind, quality: UInt8) {
        self.x = x
        self.y = y
        self.angle = angle
        self.kind = kind
        self.quality = quality
    }

    /// Angle in radians, 0..<2π, counter-clockwise from +x with y pointing down on screen.
    @inlinable public var radians: Float { Float(angle) * (Float.pi / 128) }

    /// Converts an angle in radians (any range) to the ISO byte unit, rounding to nearest.
    @inlinable public static func isoAngle(radians: Double) -> UInt8 {
        var turns = radians / (2 * Double.pi)
        turns -= turns.rounded(.down)
        return UInt8(truncatingIfNeeded: Int((turns * 256).rounded()) & 0xFF)
    }
}
