import TanbaCore

/// Synthetic fingerprint images in the manner of SFinGe (Cappelli, Maio & Maltoni; Handbook
/// of Fingerprint Recognition, 2nd ed., ch. 8): a deterministic "master" per finger, and any
/// number of distinct impressions of it as a 500-dpi live-scan sensor would capture them.
///
///     let generator = SyntheticFingerprintGenerator(seed: 42)
///     let finger = generator.master(finger: 0)
///     let image = generator.impression(of: finger, index: 3)   // FingerprintImage, 500 dpi
///
/// Everything is a pure function of the seeds: the same (seed, finger) gives the same master
/// and the same (seed, finger, index) the same impression, on every machine. Values are
/// `Sendable` and the generator holds no mutable state, so fingers can be made in parallel.
public struct SyntheticFingerprintGenerator: Sendable {
    public struct Options: Sendable, Hashable {
        /// Canvas of the master (the whole fingertip). The outline is sampled at a realistic
        /// size (about 270–350 × 320–480 px) and shrunk when the canvas is smaller.
        public var masterWidth: Int
        public var masterHeight: Int
        /// Default image size and degradations of impressions.
        public var impression: ImpressionOptions

        public init(masterWidth: Int = 400, masterHeight: Int = 500, impression: ImpressionOptions = .init()) {
            precondition(masterWidth >= 64 && masterHeight >= 64, "a master needs at least 64x64 pixels")
            self.masterWidth = masterWidth
            self.masterHeight = masterHeight
            self.impression = impression
        }
    }

    public let seed: UInt64
    public let options: Options

    public init(seed: UInt64, options: Options = .init()) {
        self.seed = seed
        self.options = options
    }

    /// The master of finger number `finger` (any integer; each names an unrelated finger).
    /// The class is drawn with natural frequencies unless `fingerprintClass` forces one.
    public func master(finger: Int, class fingerprintClass: FingerprintClass? = nil) -> MasterFingerprint {
        MasterFingerprint(seed: SeededGenerator.mix(seed, UInt64(bitPattern: Int64(finger))),
                          width: options.masterWidth, height: options.masterHeight, forcedClass: fingerprintClass)
    }

    /// Impression number `index` of `master` (any integer; each is a different placement,
    /// distortion, skin condition and noise). `options` overrides the generator's defaults.
    public func impression(of master: MasterFingerprint, index: Int, options: ImpressionOptions? = nil) -> FingerprintImage {
        let o = options ?? self.options.impression
        var rng = SeededGenerator(seed: master.seed, stream: UInt64(bitPattern: Int64(index)))
        let parameters = ImpressionParameters.sample(for: master, difficulty: o.difficulty, using: &rng)
        return ImpressionRenderer.render(master, parameters, width: o.width, height: o.height, using: &rng)
    }
}
