/// Verification error rates from genuine and impostor score samples.
///
/// Scores are "higher = more similar". A comparison is accepted when score ≥ threshold,
/// so FMR(t) = share of impostor scores ≥ t and FNMR(t) = share of genuine scores < t.
public struct ErrorRates: Sendable {
    public let genuine: [Float]
    public let impostor: [Float]

    public init(genuine: [Float], impostor: [Float]) {
        self.genuine = genuine.sorted()
        self.impostor = impostor.sorted()
    }

    public func falseMatchRate(at t: Float) -> Double {
        guard !impostor.isEmpty else { return 0 }
        return Double(impostor.count - lowerBound(impostor, t)) / Double(impostor.count)
    }

    public func falseNonMatchRate(at t: Float) -> Double {
        guard !genuine.isEmpty else { return 0 }
        return Double(lowerBound(genuine, t)) / Double(genuine.count)
    }

    /// Equal error rate as FVC defines it (Maio et al., FVC2000 report): with
    /// t1 = the highest threshold where FNMR ≤ FMR and t2 = the lowest where FNMR ≥ FMR,
    /// the EER is the midpoint of the interval given by the better of the two.
    public var equalErrorRate: Double {
        guard !genuine.isEmpty, !impostor.isEmpty else { return 0 }
        var thresholds = Array(Set(genuine + impostor)).sorted()
        thresholds.insert(thresholds.first!.nextDown, at: 0)
        thresholds.append(thresholds.last!.nextUp)
        var t1 = thresholds.first!, t2 = thresholds.last!
        for t in thresholds where falseNonMatchRate(at: t) <= falseMatchRate(at: t) { t1 = t }
        for t in thresholds.reversed() where falseNonMatchRate(at: t) >= falseMatchRate(at: t) { t2 = t }
        let fnmr1 = falseNonMatchRate(at: t1), fmr1 = falseMatchRate(at: t1)
        let fnmr2 = falseNonMatchRate(at: t2), fmr2 = falseMatchRate(at: t2)
        let (low, high) = fnmr1 + fmr1 <= fnmr2 + fmr2 ? (fnmr1, fmr1) : (fmr2, fnmr2)
        return (low + high) / 2
    }

    /// FNMR at the lowest threshold whose FMR does not exceed `targetFMR`.
    public func falseNonMatchRate(atFalseMatchRate target: Double) -> Double {
        threshold(forFalseMatchRate: target).map { falseNonMatchRate(at: $0) } ?? 1
    }

    /// The lowest threshold giving FMR ≤ target (nil when no impostor scores).
    public func threshold(forFalseMatchRate target: Double) -> Float? {
        guard !impostor.isEmpty else { return nil }
        // Allowed false matches: floor(target · N); the threshold sits just above the
        // (allowed + 1)-th highest impostor score.
        let allowed = Int((target * Double(impostor.count)).rounded(.down))
        if allowed >= impostor.count { return impostor.first! }
        let index = impostor.count - 1 - allowed
        return impostor[index].nextUp
    }

    private func lowerBound(_ v: [Float], _ t: Float) -> Int {
        var lo = 0, hi = v.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if v[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
