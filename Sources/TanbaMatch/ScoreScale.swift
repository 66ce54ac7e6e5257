/// What a comparison score means: the thresholds at which the comparator's false-match
/// rate reaches given targets, measured on impostor comparisons (see docs/matching.md for
/// the data, the command that reproduces them and their confidence).
public enum ScoreScale {
    /// (false-match rate, threshold): a score ≥ threshold is a match at that FMR.
    /// Measured with `tanba bench calibrate` on the 23,040 pooled all-pairs impostor
    /// comparisons of the eight FVC sets (docs/BENCHMARKS.md). The 1e-4 point rests on two
    /// false matches only; lower rates need more real impostor data than the project has.
    /// The calibrated synthetic impostors now give nearly the same thresholds (0.0218,
    /// 0.0278, 0.0363) but are not used: real data decides.
    public static let calibration: [(fmr: Double, threshold: Float)] = [
        (1e-2, 0.0246), (1e-3, 0.0302), (1e-4, 0.0373),
    ]

    /// The threshold for a target FMR (the nearest calibrated one at or below the target).
    public static func threshold(forFMR target: Double) -> Float {
        for entry in calibration where entry.fmr <= target { return entry.threshold }
        return calibration.last!.threshold
    }

    public static func decision(_ score: Float, fmr: Double = 1e-3) -> (match: Bool, threshold: Float, fmr: Double) {
        let t = threshold(forFMR: fmr)
        return (score >= t, t, fmr)
    }
}
