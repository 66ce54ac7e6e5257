import TanbaCore

/// Bilinear resampling of grayscale images (used to bring scans to the detector's 500 dpi).
enum ImageResampler {
    static func resample(_ image: FingerprintImage, scale: Double) -> FingerprintImage {
        let w = max(1, Int((Double(image.width) * scale).rounded()))
        let h = max(1, Int((Double(image.height) * scale).rounded()))
        var out = [UInt8](repeating: 255, count: w * h)
        let sx = Double(image.width) / Double(w), sy = Double(image.height) / Double(h)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let iw = image.width, ih = image.height
                for y in 0..<h {
                    let fy = max(0, min(Double(ih - 1), (Double(y) + 0.5) * sy - 0.5))
                    let y0 = Int(fy), y1 = min(y0 + 1, ih - 1), ty = fy - Double(y0)
                    for x in 0..<w {
                        let fx = max(0, min(Double(iw - 1), (Double(x) + 0.5) * sx - 0.5))
                        let x0 = Int(fx), x1 = min(x0 + 1, iw - 1), tx = fx - Double(x0)
                        let a = Double(src[y0 * iw + x0]), b = Double(src[y0 * iw + x1])
                        let c = Double(src[y1 * iw + x0]), d = Double(src[y1 * iw + x1])
                        let v = (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty
                        dst[y * w + x] = UInt8(clamping: Int(v.rounded()))
                    }
                }
            }
        }
        return FingerprintImage(width: w, height: h, pixels: out, dpi: image.dpi.map { $0 * scale })
    }
}
