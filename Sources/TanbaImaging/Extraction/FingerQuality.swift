import TanbaCore

/// A 0–100 finger quality score, computed from what predicts matching success:
/// how clear the ridge flow is (orientation coherence of the foreground blocks),
/// how much finger area was captured, and how reliable the detected minutiae are.
///
/// It is deliberately simple and monotone in each factor so that operators can read it:
/// 0–20 unusable, 20–40 poor (retake), 40–60 fair, 60–100 good.
public enum FingerQuality {
    /// Foreground area (mm²) at which the area factor saturates: a typical plain
    /// impression of a fingertip covers 150–250 mm².
    static let fullAreaSquareMillimetres = 150.0

    public static func score(template: FingerTemplate, image: FingerprintImage) -> UInt8 {
        let flow = ridgeFlowClarity(image)
        let mm2PerPixel = 25.4 * 25.4 / ((image.dpi ?? 500) * (image.dpi ?? 500))
        let areaFactor = min(1, Double(flow.foregroundPixels) * mm2PerPixel / fullAreaSquareMillimetres)
        let qualities = template.minutiae.map { Double($0.quality) / 100 }.sorted(by: >)
        let top = qualities.prefix(30)
        let reliability = top.isEmpty ? 0 : top.reduce(0, +) / Double(top.count)
        // Few minutiae make a finger hard to match whatever their reliability.
        let countFactor = min(1, Double(template.minutiae.count) / 20)
        let s = 100 * (0.5 * flow.coherence + 0.3 * reliability + 0.2 * areaFactor) * countFactor
        return UInt8(clamping: Int(s.rounded()))
    }

    struct Flow { var coherence: Double; var foregroundPixels: Int }

    /// Mean orientation coherence over foreground blocks (structure tensor of the gradient).
    static func ridgeFlowClarity(_ image: FingerprintImage, block: Int = 16) -> Flow {
        let w = image.width, h = image.height
        guard w > 2 * block, h > 2 * block else { return Flow(coherence: 0, foregroundPixels: 0) }
        var sumCoherence = 0.0, blocks = 0, foreground = 0
        image.pixels.withUnsafeBufferPointer { p in
            var by = 1
            while by + block < h - 1 {
                var bx = 1
                while bx + block < w - 1 {
                    var gxx = 0.0, gyy = 0.0, gxy = 0.0, sum = 0.0, sum2 = 0.0
                    for y in by..<(by + block) {
                        let row = y * w
                        for x in bx..<(bx + block) {
                            let gx = Double(Int(p[row + x + 1]) - Int(p[row + x - 1]))
                            let gy = Double(Int(p[row + w + x]) - Int(p[row - w + x]))
                            gxx += gx * gx; gyy += gy * gy; gxy += gx * gy
                            let v = Double(p[row + x]); sum += v; sum2 += v * v
                        }
                    }
                    let n = Double(block * block)
                    let variance = sum2 / n - (sum / n) * (sum / n)
                    // Background (glass, paper) is flat; ridges give a standard deviation
                    // well above 10 grey levels on every sensor in the FVC sets.
                    if variance > 100 {
                        let denom = gxx + gyy
                        let c = denom > 0 ? ((gxx - gyy) * (gxx - gyy) + 4 * gxy * gxy).squareRoot() / denom : 0
                        sumCoherence += c; blocks += 1; foreground += block * block
                    }
                    bx += block
                }
                by += block
            }
        }
        return Flow(coherence: blocks > 0 ? sumCoherence / Double(blocks) : 0, foregroundPixels: foreground)
    }
}
