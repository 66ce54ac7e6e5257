/// The five Henry–Galton classes that a synthetic master can belong to.
///
/// "Left" and "right" refer to the image as seen on screen: in a right loop the ridges
/// enter and leave on the right and the delta lies to the left of the core.
public enum FingerprintClass: String, Sendable, CaseIterable, Codable {
    case arch, tentedArch, leftLoop, rightLoop, whorl

    /// Natural frequencies (Wilson, Candela & Watson, 1994, as used by SFinGe; Handbook of
    /// Fingerprint Recognition, 2nd ed., §5.1): arch 3.7%, tented arch 2.9%, left loop 33.8%,
    /// right loop 31.7%, whorl 27.9%.
    public var naturalFrequency: Double {
        switch self {
        case .arch: return 0.037
        case .tentedArch: return 0.029
        case .leftLoop: return 0.338
        case .rightLoop: return 0.317
        case .whorl: return 0.279
        }
    }

    /// The number of (cores, deltas) a complete impression of this class shows.
    public var singularityCount: (cores: Int, deltas: Int) {
        switch self {
        case .arch: return (0, 0)
        case .tentedArch, .leftLoop, .rightLoop: return (1, 1)
        case .whorl: return (2, 2)
        }
    }

    /// Draws a class with the natural frequencies.
    static func sample(using rng: inout SeededGenerator) -> FingerprintClass {
        var u = rng.unit()
        for c in allCases {
            u -= c.naturalFrequency
            if u < 0 { return c }
        }
        return .whorl
    }
}

/// A core or a delta of the orientation field, in master-image pixel coordinates.
public struct SingularPoint: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// Poincaré index +1/2: the ridges turn by +π around it.
        case core
        /// Poincaré index −1/2: the ridges turn by −π around it (three ridge flows meet).
        case delta
    }

    public var kind: Kind
    public var x: Double
    public var y: Double

    public init(kind: Kind, x: Double, y: Double) {
        self.kind = kind
        self.x = x
        self.y = y
    }
}
